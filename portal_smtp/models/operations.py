"""What operations keep (SPEC §17): sending limits and their use, each sender's pause and
health, the workers' heartbeats and hourly figures for «Состояние отправки»."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import Base
from ..timeutil import utcnow

#: The limit columns and the window each counts over, in seconds (None: per letter).
LIMIT_WINDOWS: dict[str, int | None] = {
    "limit_minute": 60,
    "limit_hour": 3600,
    "limit_day": 86400,
    "limit_letter": None,
}


class SendLimitsMixin:
    """Recipients a sender may send to: per minute, hour and day (rolling windows, every
    envelope recipient counted once) and per letter (a letter with more goes out as several
    SMTP transactions). None: no limit of that kind."""

    limit_minute: Mapped[int | None]
    limit_hour: Mapped[int | None]
    limit_day: Mapped[int | None]
    limit_letter: Mapped[int | None]


class SendUsage(Base):
    """Recipients one transaction was about to send through a transport (a reservation made
    before its MAIL FROM): the rolling windows sum these."""

    __tablename__ = "portal_smtp_send_usage"
    __table_args__ = (
        Index("ix_portal_smtp_send_usage_window", "transport_type", "transport_id", "used_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    transport_type: Mapped[str] = mapped_column(String(16))
    transport_id: Mapped[int]
    used_at: Mapped[datetime]
    recipients: Mapped[int]


class SenderState(Base):
    """One transport's (account, mailbox or CRM sender) pause after a limit reply and its
    health: consecutive failed re-checks and whether its owner was told."""

    __tablename__ = "portal_smtp_sender_state"

    transport_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    transport_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    #: Bumped by every limit reservation: the update that takes the row's lock.
    reservations: Mapped[int] = mapped_column(default=0)
    #: No letter goes out through it before this (a server said a limit was hit).
    paused_until: Mapped[datetime | None]
    pause_reason: Mapped[str] = mapped_column(Text, default="")
    #: The last health re-check (SPEC §17) and how many in a row failed.
    health_checked_at: Mapped[datetime | None]
    health_failures: Mapped[int] = mapped_column(default=0)
    #: When the owner (administrators for an account) was told; None until then, and again
    #: after it recovers.
    health_notified_at: Mapped[datetime | None]


class WorkerHeartbeat(Base):
    """A worker thread and when it last reported (for «Состояние отправки»)."""

    __tablename__ = "portal_smtp_worker"

    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Letters it has processed since it started.
    processed: Mapped[int] = mapped_column(default=0)
    #: "idle", "sending" or "stopped".
    state: Mapped[str] = mapped_column(String(16), default="idle")


class HourlyStats(Base):
    """Attempts per transport and hour, written with the outcomes: the status page and
    ``/metrics`` read these instead of scanning the send log."""

    __tablename__ = "portal_smtp_hourly_stats"

    hour: Mapped[datetime] = mapped_column(primary_key=True)
    transport_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    transport_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    sent: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    deferred: Mapped[int] = mapped_column(default=0)
    #: Sum of the attempts' durations, for the average («самые медленные отправители»).
    duration_ms: Mapped[int] = mapped_column(default=0)
