"""Validators shared by the module's forms, with Russian messages."""
from __future__ import annotations

from email.errors import HeaderParseError
from email.header import decode_header, make_header

from wtforms import ValidationError

from ..smtp.addresses import AddressError, validate_address
from ..smtp.settings import InvalidSettings, to_ascii_host

FORBIDDEN = ("\r", "\n", "\x00", "\u2028", "\u2029")


def single_line(form, field) -> None:
    """Refuse line breaks and NUL, also as RFC 2047 encoded words (``=?UTF-8?Q?=0A?=``):
    such values would let one header become several."""
    if not field.data:
        return
    if any(ch in field.data for ch in FORBIDDEN) or any(ch in _decoded(field.data)
                                                        for ch in FORBIDDEN):
        raise ValidationError("Поле не может содержать переводы строк и управляющие символы.")


def _decoded(value: str) -> str:
    """``value`` with RFC 2047 encoded words decoded, as a mail client would show it."""
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (HeaderParseError, UnicodeDecodeError, LookupError, ValueError):
        return value


def email_address(form, field) -> None:
    """A single valid address (IDN domains allowed)."""
    if not field.data:
        return
    try:
        validate_address(field.data)
    except AddressError as error:
        raise ValidationError(str(error)) from None


def server_host(form, field) -> None:
    """A host name (IDN allowed) or an IP address."""
    if len(field.data or "") > 253:
        return  # the length validator says so
    try:
        to_ascii_host(field.data or "")
    except InvalidSettings as error:
        raise ValidationError(str(error)) from None
