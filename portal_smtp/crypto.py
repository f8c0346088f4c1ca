"""Encryption of stored secrets (SPEC §9).

Every password and OAuth secret is kept as a Fernet token. ``PORTAL_SMTP_KEYS`` lists keys
newest first: the newest encrypts, all of them decrypt, and ``smtp rotate-keys`` re-encrypts
everything under the newest one. Development and tests generate one key into the instance
folder (mode 0600) the first time they start; production refuses to start without keys.

A token that no configured key decrypts (a wrong key after a deploy) is read as an
:class:`UnreadableSecret`: the row still loads, pages show «не удаётся расшифровать —
проверьте ключи», the stored token is kept as it is, and the stand-in is never sent to a
server as a password. In development ``smtp rotate-keys`` writes the keys it used into the
instance file, so a later start without ``PORTAL_SMTP_KEYS`` reads what it wrote.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, current_app

from .config import ConfigurationError, development, instance_secret, split_list
from .smtp.settings import UnusableSecret

__all__ = [
    "UNREADABLE_LABEL",
    "WRONG_KEY_MESSAGE",
    "WRONG_KEY_MESSAGE_EN",
    "InvalidToken",
    "SecretBox",
    "UnreadableSecret",
    "box_for_app",
    "current_box",
    "is_unreadable",
    "save_development_keys",
]

log = logging.getLogger(__name__)

#: The instance file holding the development keys (comma-separated, newest first).
KEYS_FILE = "smtp-keys"
#: What pages and commands show in place of a secret no configured key decrypts.
UNREADABLE_LABEL = "не удаётся расшифровать — проверьте ключи"
#: The cause and the fix of a wrong key, for pages, the send log and the CLI.
WRONG_KEY_MESSAGE = (
    "Не удаётся расшифровать сохранённые пароли: ключ шифрования не подходит. Укажите в "
    "PORTAL_SMTP_KEYS ключ, которым они были зашифрованы (новый ключ — первым, через "
    "запятую), и выполните flask smtp rotate-keys."
)
WRONG_KEY_MESSAGE_EN = (
    "Stored secrets cannot be decrypted: the encryption key does not match. Put the key they "
    "were encrypted with into PORTAL_SMTP_KEYS (the new key first, comma-separated) and run "
    "flask smtp rotate-keys."
)


class UnreadableSecret(UnusableSecret):
    """What an encrypted column reads when no configured key decrypts its token.

    The row loads, so pages and commands keep working. :class:`~.smtp.SmtpSettings` refuses
    it (with :data:`WRONG_KEY_MESSAGE`), so it is never sent to a server as a password;
    saving a row that holds it writes :attr:`token` back unchanged, never the stand-in
    encrypted over the real token. Its text starts with NUL, which no typed password may
    hold, so even a plain copy of it is refused by every password check.
    """

    reason = WRONG_KEY_MESSAGE
    #: The stored Fernet token, exactly as read.
    token: str

    def __new__(cls, token: str) -> UnreadableSecret:
        secret = super().__new__(cls, "\x00" + UNREADABLE_LABEL)
        secret.token = token
        return secret

    def __repr__(self) -> str:  # never show the token
        return "<UnreadableSecret>"


def is_unreadable(value: object) -> bool:
    """True for the stand-in of a secret that no configured key decrypts."""
    return isinstance(value, UnreadableSecret)


class SecretBox:
    """Encrypts and decrypts text secrets with a list of Fernet keys, newest first."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ConfigurationError("at least one encryption key is required")
        try:
            self._fernet = MultiFernet([Fernet(key.encode("ascii")) for key in keys])
        except (ValueError, UnicodeEncodeError) as error:
            raise ConfigurationError("PORTAL_SMTP_KEYS holds a malformed Fernet key") from error
        self._warned = False

    def __repr__(self) -> str:  # never show key material
        return "<SecretBox>"

    def encrypt(self, plaintext: str) -> str:
        """Return the token of ``plaintext`` under the newest key."""
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """Return the plaintext of ``token``; raises :class:`InvalidToken` for a foreign one."""
        return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")

    def reveal(self, token: str) -> str:
        """The plaintext of ``token``, or an :class:`UnreadableSecret` when no key decrypts it
        (logged once per box, without the token)."""
        try:
            return self.decrypt(token)
        except (InvalidToken, UnicodeError):
            if not self._warned:
                self._warned = True
                log.warning(WRONG_KEY_MESSAGE_EN)
            return UnreadableSecret(token)

    def rotate(self, token: str) -> str:
        """Re-encrypt ``token`` under the newest key."""
        return self._fernet.rotate(token.encode("ascii")).decode("ascii")


def box_for_app(app: Flask) -> SecretBox:
    """Build the app's box from ``SMTP_KEYS``, or from the instance key in development."""
    keys = split_list(app.config.get("SMTP_KEYS"))
    if not keys:
        if not development(app):
            raise ConfigurationError(
                "PORTAL_SMTP_KEYS must be set outside development (generate one with "
                "python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())')"
            )
        # A list: after ``rotate-keys`` in development the file holds "new,old".
        keys = split_list(instance_secret(app, KEYS_FILE, Fernet.generate_key().decode("ascii")))
    return SecretBox(keys)


def save_development_keys(app: Flask) -> Path | None:
    """In development, write the configured ``SMTP_KEYS`` (newest first) into the instance
    file that a start without ``PORTAL_SMTP_KEYS`` reads, so that secrets ``rotate-keys`` put
    under a new key stay readable then. Returns the file, or None when there is nothing to
    write (other environments, or no explicit keys: the box already came from that file).
    """
    keys = split_list(app.config.get("SMTP_KEYS"))
    if not keys or not app.config.get("SMTP_DEVELOPMENT"):
        return None
    path = Path(app.instance_path) / KEYS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside and renamed over the old file: a crash leaves one whole list or the other.
    temporary = path.with_name(f".{KEYS_FILE}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(",".join(keys))
    os.replace(temporary, path)
    return path


def current_box() -> SecretBox:
    """The secret box of the current application."""
    return current_app.extensions["portal_smtp"].secrets
