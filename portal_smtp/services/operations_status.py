"""The figures of «Состояние отправки» and ``/metrics`` (SPEC §17), computed in one place.

Every figure reads a small, indexed part of the database — the waiting statuses of the outbox
(the due index), the hourly figures the worker writes with its outcomes, the senders' state
and the workers' heartbeats — so the page costs the same with a hundred letters in the log
or a million.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select

from ..config import setting
from ..extensions import db
from ..models import (
    CrmSender,
    HourlyStats,
    Mailbox,
    OutboxMessage,
    OutboxStatus,
    SenderState,
    SmtpAccount,
    WorkerHeartbeat,
)
from ..timeutil import utcnow
from .transports import KIND_NAMES

#: The statuses whose letters are still in the queue.
QUEUE_STATUSES = (OutboxStatus.QUEUED.value, OutboxStatus.SENDING.value,
                  OutboxStatus.DEFERRED.value)
HOURS = 24
#: The failing senders the page lists (the worst first; the total is shown).
FAILING_SHOWN = 10
#: Letters that found no transport are counted under the kind "".
NO_TRANSPORT = "Без отправителя"


@dataclass
class SenderFigures:
    """One transport's last day."""

    kind: str
    id: int
    label: str = ""
    sent: int = 0
    failed: int = 0
    deferred: int = 0
    duration_ms: int = 0
    health_failures: int = 0
    paused_until: datetime | None = None

    @property
    def attempts(self) -> int:
        return self.sent + self.failed + self.deferred

    @property
    def average_ms(self) -> int:
        return self.duration_ms // self.attempts if self.attempts else 0


@dataclass
class WorkerFigures:
    name: str
    state: str
    started_at: datetime
    heartbeat_at: datetime
    processed: int
    alive: bool


@dataclass
class Figures:
    """Everything «Состояние отправки» shows."""

    now: datetime
    queue: dict[str, int]
    #: (hour start, sent, failed) for each of the last 24 hours, oldest first.
    hours: list[tuple[datetime, int, int]]
    slowest: list[SenderFigures] = field(default_factory=list)
    failing: list[SenderFigures] = field(default_factory=list)
    workers: list[WorkerFigures] = field(default_factory=list)
    #: How many senders fail in all (``failing`` holds the worst of them).
    failing_total: int = 0

    @property
    def sent_day(self) -> int:
        return sum(sent for _, sent, _ in self.hours)

    @property
    def failed_day(self) -> int:
        return sum(failed for _, _, failed in self.hours)

    @property
    def workers_alive(self) -> int:
        return sum(1 for worker in self.workers if worker.alive)


def heartbeat_limit() -> timedelta:
    """A worker silent longer than this is shown as not answering."""
    return timedelta(seconds=max(60.0, 3 * float(setting("SMTP_WORKER_IDLE_SECONDS"))))


def figures(now: datetime | None = None, top: int = 5) -> Figures:
    """The figures as they are at ``now`` (UTC)."""
    now = now or utcnow()
    queue = dict.fromkeys(QUEUE_STATUSES, 0)
    for status in QUEUE_STATUSES:  # one index range each, never a scan of finished letters
        queue[status] = db.session.scalar(
            select(func.count()).select_from(OutboxMessage)
            .where(OutboxMessage.status == status)) or 0
    first_hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS - 1)
    per_hour = {hour: (sent, failed) for hour, sent, failed in db.session.execute(
        select(HourlyStats.hour, func.sum(HourlyStats.sent), func.sum(HourlyStats.failed))
        .where(HourlyStats.hour >= first_hour).group_by(HourlyStats.hour))}
    hours = [(first_hour + timedelta(hours=n),
              *(int(v or 0) for v in per_hour.get(first_hour + timedelta(hours=n), (0, 0))))
             for n in range(HOURS)]
    senders: dict[tuple[str, int], SenderFigures] = {}
    for kind, key, sent, failed, deferred, duration in db.session.execute(
            select(HourlyStats.transport_type, HourlyStats.transport_id,
                   func.sum(HourlyStats.sent), func.sum(HourlyStats.failed),
                   func.sum(HourlyStats.deferred), func.sum(HourlyStats.duration_ms))
            .where(HourlyStats.hour >= first_hour)
            .group_by(HourlyStats.transport_type, HourlyStats.transport_id)):
        senders[(kind, key)] = SenderFigures(kind, key, sent=int(sent or 0),
                                             failed=int(failed or 0),
                                             deferred=int(deferred or 0),
                                             duration_ms=int(duration or 0))
    for state in db.session.scalars(select(SenderState).where(
            (SenderState.health_failures > 0) | (SenderState.paused_until > now))):
        found = senders.setdefault((state.transport_type, state.transport_id),
                                   SenderFigures(state.transport_type, state.transport_id))
        found.health_failures = state.health_failures
        found.paused_until = state.paused_until if state.paused_until and \
            state.paused_until > now else None
    slowest = sorted((s for s in senders.values() if s.attempts and s.kind),
                     key=lambda s: s.average_ms, reverse=True)[:top]
    failing = sorted((s for s in senders.values()
                      if s.failed or s.health_failures or s.paused_until),
                     key=lambda s: (s.health_failures, s.paused_until is not None, s.failed),
                     reverse=True)
    failing_total = len(failing)
    failing = failing[:FAILING_SHOWN]
    _label([*slowest, *failing])
    limit = heartbeat_limit()
    workers = [WorkerFigures(w.name, w.state, w.started_at, w.heartbeat_at, w.processed,
                             w.state != "stopped" and now - w.heartbeat_at <= limit)
               for w in db.session.scalars(select(WorkerHeartbeat).order_by(
                   WorkerHeartbeat.heartbeat_at.desc()).limit(50))]
    return Figures(now, queue, hours, slowest, failing, workers, failing_total)


def _label(senders: list[SenderFigures]) -> None:
    """Name each sender by its address (and server, for accounts) — never a secret; one
    query a kind."""
    models = {"account": SmtpAccount, "mailbox": Mailbox, "sender": CrmSender}
    found = {}
    for kind, model in models.items():
        ids = {s.id for s in senders if s.kind == kind}
        if ids:
            found.update({(kind, obj.id): obj for obj in db.session.scalars(
                select(model).where(model.id.in_(ids)))})
    for figures in senders:
        obj = found.get((figures.kind, figures.id))
        if obj is None:
            figures.label = f"{KIND_NAMES.get(figures.kind, figures.kind)} (удалён)" \
                if figures.kind else NO_TRANSPORT
            continue
        figures.label = f"{KIND_NAMES[figures.kind]} {obj.email}"
        if figures.kind == "account":
            figures.label += f" — {obj.host}"
