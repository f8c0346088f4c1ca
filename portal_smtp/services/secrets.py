"""Key rotation: re-encrypt every :class:`EncryptedText` column under the newest key."""
from __future__ import annotations

from sqlalchemy import Text, select, type_coerce, update

from ..crypto import current_box
from ..extensions import db
from ..models.types import EncryptedText


def encrypted_columns():
    """Every (table, column) of the metadata whose type is :class:`EncryptedText`."""
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, EncryptedText):
                yield table, column


def rotate_all_secrets() -> int:
    """Rotate every stored token in place (flushes; the caller commits). Returns the count."""
    box = current_box()
    count = 0
    for table, column in encrypted_columns():
        key = next(iter(table.primary_key.columns))
        raw = type_coerce(column, Text())
        rows = db.session.execute(select(key, raw).where(column.is_not(None))).all()
        for row_id, token in rows:
            db.session.execute(
                update(table).where(key == row_id).values({column.name: type_coerce(
                    box.rotate(token), Text())})
            )
            count += 1
    return count
