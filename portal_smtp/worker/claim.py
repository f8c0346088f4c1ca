"""Claiming due letters (SPEC §11): a lease on a batch, and giving back what was not started.

A letter is claimed with a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and returned as a
plain row, which no later commit expires. A claim costs the same with a hundred letters
queued or a million (see :func:`_claim_statement`).
"""
from __future__ import annotations

import functools
from datetime import datetime, timedelta

from sqlalchemy import (
    DateTime,
    Integer,
    Row,
    Update,
    bindparam,
    literal_column,
    or_,
    select,
    union_all,
    update,
)

from ..extensions import db
from ..models import OutboxMessage, OutboxStatus
from ..timeutil import utcnow
from .settings import DeliveryConfig

OUTBOX = OutboxMessage.__table__


def sql_literal(value: str):
    """A fixed word of ours (a status) written into the SQL text as a string literal."""
    assert value.isalpha() or value.replace("_", "").isalpha(), value
    return literal_column(f"'{value}'")


#: ``status IN ('queued', 'deferred')`` with the statuses written into the SQL: an IN over
#: bound parameters is re-rendered at every execution (a worker runs it for every letter).
WAITING = OUTBOX.c.status.in_([sql_literal(status) for status in OutboxStatus.waiting()])

#: The columns a worker reads of a claimed letter.
LETTER_COLUMNS = ("id", "status", "transport_type", "transport_id", "sender_type", "sender_id",
                  "from_header", "mailing", "envelope_from", "recipients", "done_recipients",
                  "raw", "attempts")


def claim(worker: str, config: DeliveryConfig, now: datetime | None = None) -> list[Row]:
    """Lease up to a batch of due letters to ``worker`` (committed), grouped by transport so
    that each connection serves its letters in a row."""
    now = now or utcnow()
    statement = _claim_statement(db.engine.dialect.name == "postgresql")
    letters = db.session.connection().execute(statement, {
        "now": now, "batch": config.batch_size, "worker": worker,
        "lease_until": now + timedelta(seconds=config.lease_seconds)}).all()
    db.session.commit()
    return sorted(letters, key=lambda row: (row.transport_type, row.transport_id or 0, row.id))


@functools.cache
def _claim_statement(skip_locked: bool) -> Update:
    """The claim, built once.

    Each due status is read in index order on its own and stops after a batch (one ``IN``
    over both statuses makes PostgreSQL sort every due letter first). ``skip_locked``: rows
    another worker is claiming right now are passed over (PostgreSQL).
    """
    now = bindparam("now", type_=DateTime)
    batch = bindparam("batch", type_=Integer)
    firsts = []
    for status in OutboxStatus.waiting():
        first = (
            select(OUTBOX.c.id, OUTBOX.c.next_attempt_at)
            .where(OUTBOX.c.status == status, OUTBOX.c.next_attempt_at <= now,
                   or_(OUTBOX.c.claimed_by.is_(None), OUTBOX.c.lease_until < now))
            .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id)
            .limit(batch)
        )
        if skip_locked:
            first = first.with_for_update(skip_locked=True)
        first = first.subquery()
        firsts.append(select(first.c.id, first.c.next_attempt_at))
    both = union_all(*firsts).subquery()
    due = select(both.c.id).order_by(both.c.next_attempt_at, both.c.id).limit(batch)
    return (
        update(OUTBOX)
        .where(OUTBOX.c.id.in_(due.scalar_subquery()))
        .values(claimed_by=bindparam("worker"),
                lease_until=bindparam("lease_until", type_=DateTime))
        .returning(*(OUTBOX.c[name] for name in LETTER_COLUMNS))
    )


def release(worker: str) -> int:
    """Give back letters ``worker`` claimed but did not start (a graceful stop)."""
    return db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.claimed_by == worker,
               OutboxMessage.status.in_(OutboxStatus.waiting()))
        .values(claimed_by=None, lease_until=None)
        .execution_options(synchronize_session=False)
    ).rowcount
