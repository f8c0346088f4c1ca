"""Column types shared by the models: the one encrypted column type for every secret, and
the host's user key."""
from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import String, Text
from sqlalchemy.types import TypeDecorator

from ..crypto import UNREADABLE_LABEL, UnreadableSecret, current_box
from ..smtp.settings import UnusableSecretError


class EncryptedText(TypeDecorator[str]):
    """Text stored as a Fernet token and read back as plaintext (SPEC §9).

    Encryption uses the current application's keys, so values are only bound or loaded
    inside an application context — which is where every session of Flask-SQLAlchemy lives.
    A token no configured key decrypts reads as an :class:`~..crypto.UnreadableSecret`
    (the row still loads) and is written back as the same token.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, UnreadableSecret):
            return value.token  # the real secret stays as it was stored
        text = str(value)
        if UNREADABLE_LABEL in text and "\x00" in text:
            # A plain copy of the stand-in: encrypting it would destroy the real token.
            raise UnusableSecretError(UnreadableSecret.reason)
        return current_box().encrypt(text)

    def process_result_value(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        return current_box().reveal(value)


class UserKey(TypeDecorator[Any]):
    """A key of the host's user (an integer or a UUID), stored as text and read back as the
    host's key type. No foreign key: the users table is the host's, and the host may tell
    the module a user was removed before or after its own delete (SPEC §16)."""

    impl = String(64)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        return current_app.extensions["portal_smtp"].user_key_type(value)
