"""What one worker of a process does besides sending: recover letters left «sending» by a
worker that stopped, apply the log retention, forget reservations older than the longest
limit window, and report heartbeats (SPEC §11, §17)."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, insert, or_, select, update

from ..extensions import db
from ..models import LogStatus, OutboxMessage, OutboxStatus, SendLog, WorkerHeartbeat
from ..services.limits import forget_old_usage
from ..services.module_settings import get_module_settings
from ..services.storage import upsert_insert
from ..timeutil import utcnow

POSSIBLY_SENT = ("Обработчик остановился во время отправки: письмо могло быть доставлено. "
                 "Чтобы не отправить его дважды, оно не отправляется повторно само; проверьте "
                 "у получателя и при необходимости нажмите «Повторить».")
#: Workers whose heartbeat is older than this are forgotten by maintenance.
FORGET_WORKERS_AFTER = timedelta(days=1)


def recover_expired(now: datetime | None = None) -> int:
    """Fail letters left in ``sending`` past their lease as «возможно, отправлено»."""
    now = now or utcnow()
    stuck = select(OutboxMessage.id, OutboxMessage.attempts).where(
        OutboxMessage.status == OutboxStatus.SENDING.value, OutboxMessage.lease_until < now)
    if db.engine.dialect.name == "postgresql":
        stuck = stuck.with_for_update(skip_locked=True)
    rows = db.session.execute(stuck).all()
    for letter_id, attempts in rows:
        db.session.execute(update(OutboxMessage).where(OutboxMessage.id == letter_id).values(
            status=OutboxStatus.FAILED.value, claimed_by=None, lease_until=None,
            last_error=POSSIBLY_SENT).execution_options(synchronize_session=False))
        db.session.execute(insert(SendLog).values(
            outbox_id=letter_id, attempted_at=now, attempt=attempts,
            status=LogStatus.POSSIBLY_SENT.value, error=POSSIBLY_SENT))
    return len(rows)


def apply_retention(now: datetime | None = None) -> int:
    """Delete send logs and finished letters older than the module's retention."""
    cutoff = (now or utcnow()) - timedelta(days=get_module_settings().log_retention_days)
    old_letters = select(OutboxMessage.id).where(
        OutboxMessage.status.in_(OutboxStatus.finished()),
        OutboxMessage.created_at < cutoff)
    removed = db.session.execute(delete(SendLog).where(or_(
        SendLog.attempted_at < cutoff, SendLog.outbox_id.in_(old_letters)))).rowcount
    removed += db.session.execute(delete(OutboxMessage).where(
        OutboxMessage.id.in_(old_letters.scalar_subquery()))).rowcount
    return removed


def maintain(now: datetime | None = None) -> None:
    """One round of maintenance (the caller commits)."""
    now = now or utcnow()
    recover_expired(now)
    apply_retention(now)
    forget_old_usage(now)
    db.session.execute(delete(WorkerHeartbeat).where(
        WorkerHeartbeat.heartbeat_at < now - FORGET_WORKERS_AFTER))


_HEARTBEAT = WorkerHeartbeat.__table__


def heartbeat(connection: Connection, name: str, processed: int, state: str) -> None:
    """Report that worker ``name`` is alive (an upsert of its row)."""
    now = utcnow()
    maker = upsert_insert(connection.dialect.name)
    statement = maker(_HEARTBEAT).values(name=name, started_at=now, heartbeat_at=now,
                                         processed=processed, state=state)
    connection.execute(statement.on_conflict_do_update(
        index_elements=["name"],
        set_={"heartbeat_at": now, "processed": processed, "state": state}))
