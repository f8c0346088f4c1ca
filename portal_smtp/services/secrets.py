"""Key rotation: re-encrypt every :class:`EncryptedText` column under the newest key.

Every stored token is read and rotated first, and written only when all of them decrypt:
with a wrong key the rotation stops with :class:`UnreadableSecrets` and changes nothing.
"""
from __future__ import annotations

from sqlalchemy import Text, select, type_coerce, update

from ..crypto import InvalidToken, current_box
from ..extensions import db
from ..models.types import EncryptedText


class UnreadableSecrets(Exception):
    """Some stored tokens decrypt with none of the configured keys; nothing was changed."""

    def __init__(self, count: int) -> None:
        super().__init__(f"{count} stored secrets cannot be decrypted")
        #: How many tokens no key decrypts.
        self.count = count


def encrypted_columns():
    """Every (table, column) of the metadata whose type is :class:`EncryptedText`."""
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, EncryptedText):
                yield table, column


def rotate_all_secrets() -> int:
    """Rotate every stored token in place (flushes; the caller commits). Returns the count.

    Raises :class:`UnreadableSecrets` before writing anything when a token does not decrypt.
    """
    box = current_box()
    rotated, unreadable = [], 0
    for table, column in encrypted_columns():
        key = next(iter(table.primary_key.columns))
        raw = type_coerce(column, Text())
        rows = db.session.execute(select(key, raw).where(column.is_not(None))).all()
        for row_id, token in rows:
            try:
                rotated.append((table, key, column, row_id, box.rotate(token)))
            except (InvalidToken, UnicodeError):
                unreadable += 1
    if unreadable:
        raise UnreadableSecrets(unreadable)
    for table, key, column, row_id, token in rotated:
        db.session.execute(
            update(table).where(key == row_id).values({column.name: type_coerce(token, Text())})
        )
    return len(rotated)
