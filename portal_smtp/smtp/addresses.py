"""E-mail addresses in the form they travel in an SMTP envelope."""
from __future__ import annotations

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
