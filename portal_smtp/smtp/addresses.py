"""E-mail addresses in the form they travel in an SMTP envelope.

Addresses in special-use and intranet domains (``corp.local``, ``example.test``, a dotless
``intranet``) are valid here (SPEC §15): the product relays through servers an administrator
chose, so global deliverability is not its question. What is not an address is refused with
the reason in Russian.
"""
from __future__ import annotations

import email.policy
import unicodedata
from email import errors
from email.header import decode_header, make_header
from typing import NamedTuple

import email_validator


class AddressError(ValueError):
    """An address that cannot be used; the message is Russian and safe to show."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        #: Why, as a short Russian phrase («нет знака @»); empty when the message says it.
        self.reason = reason


def control_characters(text: str) -> bool:
    """Whether ``text`` holds a character that may break a header line or a protocol line.

    Every C0/C1 control except TAB counts (``\\r``, ``\\n``, NUL, ``\\v``, ``\\f``,
    ``\\x1c``–``\\x1f``, ``\\x85`` …), and so do U+2028/U+2029: some generators and readers
    split lines at any of them, whatever the Python version.
    """
    return any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") and ch != "\t" for ch in text)


def unsafe_header_text(text: str) -> bool:
    """Whether ``text`` (a sender name, a subject …) would break a header: a control character
    as typed or once RFC 2047 encoded words are decoded (``=?UTF-8?Q?=0A?=``)."""
    if control_characters(text):
        return True
    if "=?" not in text:
        return False
    try:
        decoded = str(make_header(decode_header(text)))
    except (errors.HeaderParseError, UnicodeDecodeError, LookupError, ValueError):
        return False  # not decodable: readers show it as typed
    return control_characters(decoded)


#: Special-use names that name real intranet hosts (RFC 6762 ``.local``, RFC 6761
#: ``localhost``, RFC 8375 ``home.arpa``). email-validator refuses them even when global
#: deliverability is off; ``.test`` it allows through ``test_environment``. ``.invalid``,
#: ``.onion`` and the rest of ``.arpa`` stay refused: no mail server serves them.
INTRANET_SUFFIXES = (("local",), ("localhost",), ("home", "arpa"))

#: email-validator's reasons (English, by a distinctive fragment) in Russian; first match wins.
_REASONS = (
    ("must have an @-sign", "нет знака @"),
    ("at-sign", "вместо знака @ стоит похожий на него символ"),
    ("something before the @-sign", "нет имени до знака @"),
    ("something after the @-sign", "нет домена после знака @"),
    ("so many characters", "часть домена между точками длиннее 63 символов"),
    ("too long before the @-sign", "часть до знака @ слишком длинная"),
    ("too long after the @-sign", "домен слишком длинный"),
    ("too long", "адрес слишком длинный"),
    ("two periods in a row", "две точки подряд"),
    ("period and a hyphen", "точка и дефис стоят рядом"),
    ("with a period", "точка в начале или в конце части адреса"),
    ("a period immediately", "точка рядом со знаком @"),
    ("hyphen", "дефис в начале или в конце части домена"),
    ("two dashes", "два дефиса подряд на 3–4 месте части домена (так пишется только Punycode)"),
    ("special-use or reserved", "домен зарезервирован и не принимает почту"),
    ("in brackets", "IP-адрес в квадратных скобках записан с ошибкой"),
    ("Quoting", "кавычки в части до знака @ не поддерживаются"),
    ("display name", "укажите только адрес — без имени и угловых скобок"),
    ("angle bracket", "укажите только адрес — без имени и угловых скобок"),
    ("anything after the email address", "после адреса есть лишние символы"),
    ("IDNA", "домен записан с ошибкой"),
    ("before the @-sign", "недопустимые символы до знака @"),
    ("after the @-sign", "недопустимые символы в домене"),
    ("character", "недопустимые символы в адресе"),
)


def _reason(error: Exception) -> str:
    """email-validator's reason for refusing an address, as a short Russian phrase."""
    text = str(error)
    return next((ru for fragment, ru in _REASONS if fragment in text), "адрес записан с ошибкой")


def _refused(address: str, reason: str) -> AddressError:
    return AddressError(f"Некорректный адрес e-mail: {address[:100]} — {reason}.", reason)


def explain_address_list(value: str) -> str:
    """Why a header value (``Иван <a@b>, c@d``) is not a clean list of addresses: the first
    invalid address's reason, else a hint at the punctuation around them."""
    if control_characters(value):
        return "в нём есть перевод строки или управляющий символ"
    for part in value.split(","):
        bare = part.strip()
        if "<" in bare and bare.endswith(">"):
            bare = bare[bare.rindex("<") + 1:-1]
        try:
            validate_address(bare)
        except AddressError as error:
            if error.reason:
                return error.reason
    return "адрес записан с ошибкой — проверьте угловые скобки, кавычки и запятые"


def _validate(address: str) -> email_validator.ValidatedEmail:
    return email_validator.validate_email(
        address,
        check_deliverability=False,
        allow_smtputf8=True,
        allow_domain_literal=True,
        globally_deliverable=False,  # a dotless intranet host is a domain too
        test_environment=True,  # ``.test`` names a test network's own domain
    )


def _intranet_stand_in(address: str) -> tuple[str, str] | None:
    """``address`` with its intranet suffix (``local`` …) replaced by ASCII labels of the
    same length, and that suffix; ``None`` when the domain has no such suffix."""
    local, _, domain = address.rpartition("@")
    labels = domain.split(".")
    folded = tuple(unicodedata.normalize("NFKC", label).casefold() for label in labels)
    for suffix in INTRANET_SUFFIXES:
        if len(labels) >= len(suffix) and folded[-len(suffix):] == suffix:
            stand_in = labels[:-len(suffix)] + ["x" * len(label) for label in suffix]
            return f"{local}@{'.'.join(stand_in)}", ".".join(suffix)
    return None


def _validate_intranet(address: str) -> email_validator.ValidatedEmail | None:
    """Validate an address in an intranet special-use domain, or ``None`` when it is not one.

    Every other rule of email-validator still applies: the stand-in keeps the lengths.
    """
    stand_in = _intranet_stand_in(address)
    if stand_in is None:
        return None
    text, suffix = stand_in
    valid = _validate(text)
    valid.ascii_domain = valid.ascii_domain[:-len(suffix)] + suffix
    valid.domain = valid.domain[:-len(suffix)] + suffix
    valid.normalized = f"{valid.local_part}@{valid.domain}"
    if valid.ascii_email is not None:
        valid.ascii_email = f"{valid.ascii_local_part or valid.local_part}@{valid.ascii_domain}"
    return valid


def validate_address(address: str) -> email_validator.ValidatedEmail:
    """Validate a bare address (no display name) without DNS look-ups.

    :raises AddressError: with «Некорректный адрес e-mail: … — <the reason in Russian>».
    """
    if not isinstance(address, str) or control_characters(address):
        raise AddressError("Некорректный адрес e-mail: в нём есть перевод строки или "
                           "управляющий символ.")
    address = address.strip()
    try:
        valid = _validate(address)
    except email_validator.EmailNotValidError as error:
        try:
            valid = _validate_intranet(address) if "special-use" in str(error) else None
        except email_validator.EmailNotValidError as second:
            error = second
        if valid is None:
            raise _refused(address, _reason(error)) from None
    if valid.ascii_domain.rpartition(".")[2].isdigit():
        # ``user@192.0.2.1``: an IP address needs brackets (``user@[192.0.2.1]``).
        raise _refused(address, "IP-адрес после знака @ пишется в квадратных скобках")
    return valid


def wire_address(address: str) -> str:
    """The envelope form of ``address``: the domain in punycode; the local part as typed
    (non-ASCII local parts need the server's SMTPUTF8, which the caller negotiates)."""
    valid = validate_address(address)
    return f"{valid.local_part}@{valid.ascii_domain}"


def normalize_address(address: str) -> str:
    """The comparison form of an address: lower case, the domain in its Unicode form.

    Raises :class:`AddressError` for an invalid address.
    """
    valid = validate_address(address)
    return f"{valid.local_part.lower()}@{valid.domain.lower()}"


class Mailbox(NamedTuple):
    """One parsed mailbox of a From header."""

    #: The display name, RFC 2047 decoded and trimmed ("" when absent).
    name: str
    #: The address as written in the header.
    address: str
    #: :func:`normalize_address` of ``address``.
    normalized: str


MAX_HEADER_LENGTH = 998


def parse_from_header(value: str) -> Mailbox | None:
    """Parse a From header as RFC 5322 (not by pattern).

    Returns ``None`` unless it holds exactly one valid mailbox and no parse defects: in
    ``"letter@34web.ru" <other@34web.ru>`` the address is ``other@34web.ru``.
    """
    if not isinstance(value, str) or len(value) > MAX_HEADER_LENGTH:
        return None
    if control_characters(value):
        return None
    try:
        header = email.policy.default.header_factory("From", value)
    except (errors.HeaderParseError, LookupError, ValueError, TypeError, AttributeError):
        return None  # the standard parser gives up on some broken forms (``c@``, ``a@[``)
    defects = [d for d in header.defects if not isinstance(d, errors.NonASCIILocalPartDefect)]
    if defects or len(header.addresses) != 1:
        return None
    mailbox = header.addresses[0]
    try:
        normalized = normalize_address(mailbox.addr_spec)
    except AddressError:
        return None
    name = mailbox.display_name.strip()
    if control_characters(name):  # e.g. from an encoded word
        return None
    return Mailbox(name, mailbox.addr_spec, normalized)
