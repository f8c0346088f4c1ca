"""What the database can hold and what to say when it cannot take a write.

Row ids are bounded by PostgreSQL's ``INTEGER`` (SQLite would take up to 2^63-1, but the
module promises the same behaviour on both), so every id that arrives from outside — a URL, a
query argument, a form field, a CLI argument — is checked against :data:`MAX_ID` before it
reaches a query. Storage failures (a full disk, a read-only database, a database that went
away) are recognised by :func:`storage_problem`, which words them in Russian for the pages
and the CLI instead of letting a driver's traceback through.
"""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Insert, Table
from sqlalchemy.exc import DBAPIError, InternalError, OperationalError

#: The largest id a row can have (PostgreSQL ``INTEGER``).
MAX_ID = 2**31 - 1

READ_ONLY_TEXT = ("База данных недоступна для записи — изменения не сохранены. "
                  "Сообщите администратору портала и повторите позже.")
DISK_FULL_TEXT = ("На диске базы данных закончилось место — изменения не сохранены. "
                  "Сообщите администратору портала и повторите позже.")
UNAVAILABLE_TEXT = ("База данных сейчас недоступна — изменения не сохранены. "
                    "Повторите попытку через минуту; если ошибка не пройдёт, сообщите "
                    "администратору портала.")

# SQLSTATE codes of PostgreSQL (psycopg keeps them in ``sqlstate``).
_PG_READ_ONLY = "25006"  # read_only_sql_transaction
_PG_DISK_FULL = "53100"  # disk_full


def db_id(value: object) -> int:
    """``value`` as a row id (1..MAX_ID, ASCII digits only); raises :class:`ValueError`.

    Shaped for Werkzeug's ``request.args.get(name, type=db_id)``, which turns the
    ``ValueError`` into the default, and ``getlist(name, type=db_id)``, which skips the value.
    """
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        raise ValueError(f"not a row id: {text[:20]!r}")
    number = int(text)
    if not 1 <= number <= MAX_ID:
        raise ValueError(f"row id out of range: {number}")
    return number


def parse_id(value: object) -> int | None:
    """``value`` as a row id, or ``None`` when it is not one (see :func:`db_id`)."""
    try:
        return db_id(value)
    except ValueError:
        return None


def storage_problem(error: BaseException) -> str | None:
    """The Russian sentence for a storage failure, or ``None`` when ``error`` is not one.

    Storage failures are SQLAlchemy's ``OperationalError`` (SQLite: full disk, read-only
    file or ``query_only``, locked; PostgreSQL: connection lost, disk full) and PostgreSQL's
    read-only transaction, which SQLAlchemy reports as an ``InternalError``.
    """
    if not isinstance(error, OperationalError | InternalError):
        return None
    state = _sqlstate(error)
    text = str(getattr(error, "orig", error)).lower()
    if state == _PG_READ_ONLY or "readonly" in text or "read-only" in text:
        return READ_ONLY_TEXT
    if state == _PG_DISK_FULL or "disk is full" in text or "disk full" in text:
        return DISK_FULL_TEXT
    if isinstance(error, InternalError):
        return None  # another internal error: a bug to see, not a storage state
    return UNAVAILABLE_TEXT


def _sqlstate(error: DBAPIError) -> str | None:
    """The SQLSTATE of a PostgreSQL error (``None`` on SQLite)."""
    return getattr(error.orig, "sqlstate", None)


def upsert_insert(dialect_name: str) -> Callable[[Table], Insert]:
    """``insert`` with ``on_conflict_do_update``/``on_conflict_do_nothing`` for the databases
    the module supports (PostgreSQL and SQLite both speak ``INSERT … ON CONFLICT``)."""
    from sqlalchemy.dialects import postgresql, sqlite

    return {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect_name]
