"""Validators shared by the module's forms, with Russian messages."""
from __future__ import annotations

from wtforms import ValidationError

from ..smtp.addresses import AddressError, unsafe_header_text, validate_address
from ..smtp.settings import InvalidSettings, to_ascii_host


def single_line(form, field) -> None:
    """Refuse line breaks and control characters (``\\v``, ``\\f``, ``\\x85``, NUL, U+2028 …),
    also as RFC 2047 encoded words (``=?UTF-8?Q?=0A?=``): such values would let one header
    become several."""
    if not field.data:
        return
    if unsafe_header_text(field.data):
        raise ValidationError("Поле не может содержать переводы строк и управляющие символы.")


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
