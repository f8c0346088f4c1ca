"""Encryption of stored secrets (SPEC §9).

Every password and OAuth secret is kept as a Fernet token. ``PORTAL_SMTP_KEYS`` lists keys
newest first: the newest encrypts, all of them decrypt, and ``smtp rotate-keys`` re-encrypts
everything under the newest one. Development and tests generate one key into the instance
folder (mode 0600) the first time they start; production refuses to start without keys.
"""
from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, current_app

from .config import ConfigurationError, instance_secret, split_list

__all__ = ["InvalidToken", "SecretBox", "box_for_app", "current_box"]


class SecretBox:
    """Encrypts and decrypts text secrets with a list of Fernet keys, newest first."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ConfigurationError("at least one encryption key is required")
        try:
            self._fernet = MultiFernet([Fernet(key.encode("ascii")) for key in keys])
        except (ValueError, UnicodeEncodeError) as error:
            raise ConfigurationError("PORTAL_SMTP_KEYS holds a malformed Fernet key") from error

    def __repr__(self) -> str:  # never show key material
        return "<SecretBox>"

    def encrypt(self, plaintext: str) -> str:
        """Return the token of ``plaintext`` under the newest key."""
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """Return the plaintext of ``token``; raises :class:`InvalidToken` for a foreign one."""
        return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")

    def rotate(self, token: str) -> str:
        """Re-encrypt ``token`` under the newest key."""
        return self._fernet.rotate(token.encode("ascii")).decode("ascii")


def box_for_app(app: Flask) -> SecretBox:
    """Build the app's box from ``SMTP_KEYS``, or from the instance key outside production."""
    keys = split_list(app.config.get("SMTP_KEYS"))
    if not keys:
        if app.config["ENV"] == "production":
            raise ConfigurationError(
                "PORTAL_SMTP_KEYS must be set in production (generate one with "
                "python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())')"
            )
        keys = [instance_secret(app, "smtp-keys", Fernet.generate_key().decode("ascii"))]
    return SecretBox(keys)


def current_box() -> SecretBox:
    """The secret box of the current application."""
    return current_app.extensions["portal_smtp"].secrets
