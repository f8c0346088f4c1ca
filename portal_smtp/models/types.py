"""Column types shared by the models: the one encrypted column type for every secret."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator

from ..crypto import current_box


class EncryptedText(TypeDecorator[str]):
    """Text stored as a Fernet token and read back as plaintext (SPEC §9).

    Encryption uses the current application's keys, so values are only bound or loaded
    inside an application context — which is where every session of Flask-SQLAlchemy lives.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        return current_box().encrypt(str(value))

    def process_result_value(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        return current_box().decrypt(value)
