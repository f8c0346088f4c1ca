"""E-mail addresses in the form they travel in an SMTP envelope."""
from __future__ import annotations

import email.policy
from email import errors
from typing import NamedTuple

import email_validator


class AddressError(ValueError):
    """An address that cannot be used; the message is Russian and safe to show."""


def validate_address(address: str) -> email_validator.ValidatedEmail:
    """Validate a bare address (no display name) without DNS look-ups."""
    if not isinstance(address, str) or any(ch in address for ch in "\r\n\x00\u2028\u2029"):
        raise AddressError("Адрес e-mail содержит недопустимые символы.")
    try:
        return email_validator.validate_email(
            address.strip(),
            check_deliverability=False,
            allow_smtputf8=True,
            allow_domain_literal=True,
        )
    except email_validator.EmailNotValidError:
        raise AddressError(f"Некорректный адрес e-mail: {address.strip()[:100]}") from None


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
    if any(ch in value for ch in "\r\n\x00\u2028\u2029"):
        return None
    try:
        header = email.policy.default.header_factory("From", value)
    except (errors.HeaderParseError, IndexError, ValueError, TypeError):
        return None  # the standard parser gives up on some broken forms (``c@``)
    defects = [d for d in header.defects if not isinstance(d, errors.NonASCIILocalPartDefect)]
    if defects or len(header.addresses) != 1:
        return None
    mailbox = header.addresses[0]
    try:
        normalized = normalize_address(mailbox.addr_spec)
    except AddressError:
        return None
    name = mailbox.display_name.strip()
    if any(ch in name for ch in "\r\n\x00\u2028\u2029"):  # e.g. from an encoded word
        return None
    return Mailbox(name, mailbox.addr_spec, normalized)
