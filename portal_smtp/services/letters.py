"""Checking a letter before it is queued (SPEC §15): one From, valid recipients, no header
that could smuggle a line break, a Message-ID fixed once, Bcc kept out of the headers.

The checks are the project's own and do not depend on the Python version: the machine's
Python 3.11.7 has no ``verify_generated_headers``, and its generator splits a header line at
``\\v``, ``\\f``, ``\\x1c``–``\\x1e`` and ``\\x85`` (``str.splitlines``), so a parsed letter could
otherwise put a second From or a Bcc line on the wire. Every header of every part is checked
before the letter is generated, and the generated header block is checked once more, byte by
byte, before it is stored.
"""
from __future__ import annotations

import copy
import email.policy
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from email import errors
from email.headerregistry import Address, Group
from email.message import EmailMessage, Message
from email.utils import format_datetime, make_msgid

from ..smtp.addresses import (
    AddressError,
    Mailbox,
    control_characters,
    explain_address_list,
    normalize_address,
    parse_from_header,
    validate_address,
)

MAX_HEADER_LENGTH = 4000
MAX_RECIPIENTS = 1000
MAX_LETTER_BYTES = 25 * 1024 * 1024
MAX_MESSAGE_ID_LENGTH = 250
#: RFC 5322 line limit, CRLF excluded.
MAX_LINE_LENGTH = 998
RECIPIENT_HEADERS = ("To", "Cc", "Bcc")
#: Headers that carry addresses; each is parsed as RFC 5322 and every address validated.
ADDRESS_HEADERS = ("From", "Sender", "Reply-To", "To", "Cc", "Bcc")
#: Headers a letter may hold at most once (RFC 5322 §3.6): a second one is ambiguous.
SINGLE_HEADERS = ("From", "Sender", "Reply-To", "To", "Cc", "Bcc", "Subject", "Message-ID",
                  "Date", "In-Reply-To", "References")
#: RFC 5322 field-name: printable ASCII except the colon.
HEADER_NAME = re.compile(r"[!-9;-~]{1,100}")
#: One msg-id: ``<left@right>``, printable ASCII, no spaces, no second ``<``, ``>`` or ``@``.
MESSAGE_ID = re.compile(r"<[!-;=?A-~]+@[!-;=?A-~]+>")
#: A folded line break: CRLF (or LF) followed by white space continues the same header.
FOLD = re.compile(r"\r?\n(?=[ \t])")
#: Something that looks like an address inside a display name (``"a@x.org" <b@y.org>``).
ADDRESS_LIKE = re.compile(r"[^\s<>()\"',;:\[\]]+@[^\s<>()\"',;:\[\]]+")

BROKEN_HEADER = ("Заголовок {name} содержит перевод строки или управляющий символ — такое "
                 "письмо не будет отправлено.")


class InvalidLetter(ValueError):
    """The letter cannot be queued; the message is Russian and safe to show."""


@dataclass(frozen=True)
class PreparedLetter:
    """A letter ready for the outbox."""

    mailbox: Mailbox
    from_header: str
    envelope_from: str
    recipients: list[str]
    subject: str
    message_id: str
    #: A copy of the caller's letter with Message-ID and Date set and Bcc removed.
    letter: EmailMessage


#: What ``email`` raises when it refuses, or chokes on, a header value (``c@`` → IndexError,
#: ``a@[`` → AttributeError on 3.11).
HEADER_ERRORS = (ValueError, TypeError, LookupError, AttributeError, errors.HeaderParseError)
#: What a user sees when ``email`` refuses to store a header value («Header values may not
#: contain linefeed…» — ``\v``, ``\f``, ``\x85`` count as line breaks there; «There may be
#: at most 1 To headers…»): that English text never reaches a user.
HEADER_REFUSED = ("Некорректный заголовок письма: в нём есть перевод строки или управляющий "
                  "символ, либо поле повторяется.")


def _shown(text: str, limit: int = 60) -> str:
    """``text`` safe to put into a message: control characters shown as «?», cut short."""
    return "".join("?" if control_characters(ch) else ch for ch in text[:limit])


def _as_text(value: object) -> str:
    """The header value as the caller stored it. Bytes a parser kept as surrogates
    (``message_from_bytes``) are read as UTF-8, as a mail client would show them."""
    text = str(value)
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a lone surrogate that no byte stands for
        raise InvalidLetter("Заголовок письма содержит недопустимый символ.") from None


def _decoded(name: str, text: str) -> str:
    """The value a reader sees: RFC 2047 encoded words decoded (``=?UTF-8?Q?=0A?=`` → LF)."""
    if "=?" not in text:
        return text
    try:
        return str(email.policy.default.header_factory(name, text))
    except HEADER_ERRORS:
        return text  # what cannot be parsed is not decoded by readers either


def _check_header(name: str, value: object) -> None:
    """One header: a legal name; neither the value as written (folds aside) nor as decoded
    holds a control character; bounded length."""
    if not isinstance(name, str) or not HEADER_NAME.fullmatch(name):
        raise InvalidLetter(f"Недопустимое имя заголовка «{_shown(str(name))}»: в имени "
                            "не может быть двоеточия, пробела, перевода строки или "
                            "управляющего символа.")
    text = _as_text(value)
    unfolded = FOLD.sub(" ", text) if not hasattr(value, "name") else text
    if control_characters(unfolded) or control_characters(_decoded(name, unfolded)):
        raise InvalidLetter(BROKEN_HEADER.format(name=name))
    if len(text) > MAX_HEADER_LENGTH:
        raise InvalidLetter(f"Заголовок {name} слишком длинный.")


def _check_headers(message: Message) -> None:
    """Every header of every part of ``message``, read raw (not through a policy)."""
    for part in message.walk():
        for name, value in part.raw_items():
            _check_header(name, value)
    for name in SINGLE_HEADERS:
        if len(_raw_values(message, name)) > 1:
            raise InvalidLetter(f"Поле {name} встречается в письме несколько раз.")


def _raw_values(message: Message, name: str) -> list:
    """The values of header ``name`` as stored — not the policy's cleaned-up rendering."""
    return [value for key, value in message.raw_items() if key.lower() == name.lower()]


def _parsed(name: str, value) -> object:
    """The parsed header, refused when the parser found anything wrong with it.

    The defects of the header as the caller set it count: its ``str()`` is already a
    cleaned-up rendering (``a@x.org)<b@y.org>`` renders as ``a@x.org``) — these are the
    CVE-2023-27043 forms. A non-ASCII local part is allowed here; whether the server offers
    SMTPUTF8 is checked when sending.
    """
    try:
        header = value if hasattr(value, "defects") else \
            email.policy.default.header_factory(name, FOLD.sub(" ", _as_text(value)))
    except HEADER_ERRORS:
        raise _bad_address(name, value) from None
    defects = [d for d in header.defects if not isinstance(d, errors.NonASCIILocalPartDefect)]
    if defects:
        raise _bad_address(name, value)
    return header


def _bad_address(name: str, value) -> InvalidLetter:
    # A header object's str() is a cleaned-up rendering (``<>`` for ``a@b..c``); its parse
    # tree still reads as the caller wrote it.
    text = str(getattr(value, "_parse_tree", value))
    return InvalidLetter(f"Некорректный адрес в поле {name}: {_shown(text, 200)} — "
                         f"{explain_address_list(text)}.")


def _check_display_name(name: str, address) -> None:
    """Refuse a display name that shows another address than the real one
    (``"boss@company.ru" <x@evil.org>``): the reader would trust the wrong one."""
    for shown in ADDRESS_LIKE.findall(address.display_name):
        try:
            same = normalize_address(shown) == normalize_address(address.addr_spec)
        except AddressError:
            same = False
        if not same:
            raise InvalidLetter(f"В поле {name} имя «{_shown(address.display_name, 100)}» "
                                f"выглядит как другой адрес, чем {address.addr_spec} — такое "
                                "письмо не будет отправлено.")


def _wire(name: str, addr_spec: str) -> str:
    """The envelope form of an address of header ``name``; refused with the reason."""
    try:
        valid = validate_address(addr_spec)
    except AddressError as error:
        raise InvalidLetter(f"Поле {name}: {error}") from None
    return f"{valid.local_part}@{valid.ascii_domain}"


def _check_addresses(message: Message) -> None:
    """Every address header parses cleanly and holds only valid addresses; outside From no
    display name impersonates another address; Reply-To and Sender, which no envelope
    carries, hold ASCII local parts only (a UTF-8 one needs SMTPUTF8 for the whole letter)."""
    for name in ADDRESS_HEADERS:
        for value in _raw_values(message, name):
            for address in _parsed(name, value).addresses:
                wire = _wire(name, address.addr_spec)
                if name != "From":
                    _check_display_name(name, address)
                if name in ("Reply-To", "Sender") and not wire.isascii():
                    raise InvalidLetter(f"Адрес {address.addr_spec} в поле {name} содержит "
                                        "не-ASCII символы до знака @ — укажите другой адрес.")


def _recipients(message: Message) -> list[str]:
    found: list[str] = []
    for header_name in RECIPIENT_HEADERS:
        for value in _raw_values(message, header_name):
            for address in _parsed(header_name, value).addresses:
                wire = _wire(header_name, address.addr_spec)
                if wire.lower() not in (r.lower() for r in found):
                    found.append(wire)
    if not found:
        raise InvalidLetter("У письма нет ни одного получателя.")
    if len(found) > MAX_RECIPIENTS:
        raise InvalidLetter(f"Слишком много получателей: не больше {MAX_RECIPIENTS}.")
    return found


def _punycode_address(address: Address) -> Address:
    valid = validate_address(address.addr_spec)
    return Address(display_name=address.display_name, username=address.username,
                   domain=valid.ascii_domain)


def _punycode_domains(letter: EmailMessage) -> None:
    """Write IDN domains of address headers in punycode (``user@xn--80a1acny.xn--p1ai``):
    the generator would otherwise put an encoded word inside the address, which no reader
    decodes there (RFC 2047 §5)."""
    for name in ("From", "Sender", "Reply-To", "To", "Cc"):
        values = _raw_values(letter, name)
        if not values:
            continue
        groups = _parsed(name, values[0]).groups
        if all(a.domain.isascii() for group in groups for a in group.addresses):
            continue
        rebuilt = [Group(g.display_name, [_punycode_address(a) for a in g.addresses])
                   if g.display_name is not None else _punycode_address(g.addresses[0])
                   for g in groups]
        letter.replace_header(name, email.policy.default.header_factory(name, rebuilt))


def _message_id(letter: EmailMessage) -> str:
    """The letter's one Message-ID: ``<left@right>``, printable ASCII, bounded."""
    message_id = FOLD.sub(" ", _as_text(_raw_values(letter, "Message-ID")[0])).strip()
    if len(message_id) > MAX_MESSAGE_ID_LENGTH:
        raise InvalidLetter("Слишком длинный Message-ID.")
    if not MESSAGE_ID.fullmatch(message_id):
        raise InvalidLetter(f"Некорректный Message-ID «{_shown(message_id, 100)}»: нужен один "
                            "идентификатор вида <уникальная-часть@домен> без пробелов.")
    return message_id


def prepare_letter(message: EmailMessage) -> PreparedLetter:
    """Validate ``message`` and return what the outbox stores. Raises :class:`InvalidLetter`.

    The caller's message is not changed: a copy gets the Message-ID, the Date, punycode
    domains in its address headers and loses Bcc.
    """
    if not isinstance(message, EmailMessage):
        raise InvalidLetter("Письмо должно быть объектом email.message.EmailMessage.")
    _check_headers(message)
    if len(_raw_values(message, "From")) != 1:
        raise InvalidLetter("У письма должно быть ровно одно поле From.")
    _check_addresses(message)
    from_header = str(message["From"])  # the policy's rendering: folds and encoded words read
    mailbox = parse_from_header(from_header)
    if mailbox is None:
        raise InvalidLetter(f"Некорректный адрес отправителя: {_shown(from_header, 200)}")
    recipients = _recipients(message)
    valid_from = validate_address(mailbox.address)
    envelope_from = f"{valid_from.local_part}@{valid_from.ascii_domain}"

    letter = copy.deepcopy(message)
    del letter["Bcc"]
    _punycode_domains(letter)
    # Raw look-ups: the policy's parser raises on some hostile values (``<@x>``).
    if not _raw_values(letter, "Message-ID"):
        letter["Message-ID"] = make_msgid(domain=valid_from.ascii_domain)
    if not _raw_values(letter, "Date"):
        letter["Date"] = format_datetime(datetime.now().astimezone())
    return PreparedLetter(mailbox, from_header, envelope_from, recipients,
                          str(message.get("Subject", ""))[:1000], _message_id(letter), letter)


def _check_generated(raw: bytes, letter: Message) -> None:
    """The final pass over the bytes that go out: every header line is ``Name: value`` or a
    folded continuation, CRLF-terminated, within 998 octets, free of control characters; and
    the header names are exactly the letter's own — nothing was split off or added."""
    head, separator, _ = raw.partition(b"\r\n\r\n")
    if not separator:
        raise InvalidLetter("Письмо не удалось сформировать: нет границы заголовков и текста.")
    names: list[str] = []
    for number, line in enumerate(head.split(b"\r\n")):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidLetter("Письмо не удалось сформировать: заголовок не в UTF-8.") from None
        if len(line) > MAX_LINE_LENGTH or control_characters(text):
            raise InvalidLetter("Письмо не удалось сформировать: заголовок содержит "
                                "управляющий символ или слишком длинную строку.")
        if text[:1] in (" ", "\t") and number > 0:
            continue  # a folded continuation of the header above
        name, colon, _ = text.partition(":")
        if not colon or not HEADER_NAME.fullmatch(name):
            raise InvalidLetter("Письмо не удалось сформировать: в заголовках появилась "
                                "лишняя строка — такое письмо не будет отправлено.")
        names.append(name.lower())
    if Counter(names) != Counter(name.lower() for name, _ in letter.raw_items()):
        raise InvalidLetter("Письмо не удалось сформировать: в заголовках появилась лишняя "
                            "строка — такое письмо не будет отправлено.")


def serialize(prepared: PreparedLetter) -> bytes:
    """The bytes that go out: CRLF line endings, every header line checked by us (never by a
    Python version's policy feature alone)."""
    smtputf8 = not (prepared.envelope_from.isascii()
                    and all(r.isascii() for r in prepared.recipients))
    policy = email.policy.SMTPUTF8 if smtputf8 else email.policy.SMTP
    if hasattr(policy, "verify_generated_headers"):
        policy = policy.clone(verify_generated_headers=True)
    _check_headers(prepared.letter)  # the sender name may have been applied since
    try:
        raw = prepared.letter.as_bytes(policy=policy)
    except HEADER_ERRORS:
        # e.g. a non-ASCII header name, or a header the policy refuses to fold safely
        raise InvalidLetter("Письмо не удалось сформировать: заголовки содержат символы, "
                            "которые нельзя записать в письмо.") from None
    _check_generated(raw, prepared.letter)
    if len(raw) > MAX_LETTER_BYTES:
        raise InvalidLetter("Письмо больше 25 МБ.")
    return raw
