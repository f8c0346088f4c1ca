"""Validators shared by the module's forms, with Russian messages."""
from __future__ import annotations

from wtforms import ValidationError

from ..smtp.addresses import AddressError, validate_address
from ..smtp.settings import InvalidSettings, to_ascii_host

FORBIDDEN = ("\r", "\n", "\x00", "\u2028", "\u2029")


def single_line(form, field) -> None:
    """Refuse line breaks and NUL: such values would let one header become several."""
    if field.data and any(ch in field.data for ch in FORBIDDEN):
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
    try:
        to_ascii_host(field.data or "")
    except InvalidSettings as error:
        raise ValidationError(str(error)) from None
