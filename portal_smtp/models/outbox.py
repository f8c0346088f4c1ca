"""The durable outbox and its send log (SPEC §11)."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Base
from ..timeutil import utcnow
from .types import UserKey


class OutboxStatus(enum.StrEnum):
    """Where a letter is: queued → sending → sent | failed, deferred between retries."""

    QUEUED = "queued"
    SENDING = "sending"
    DEFERRED = "deferred"
    SENT = "sent"
    FAILED = "failed"

    @property
    def label(self) -> str:
        return STATUS_LABELS[self.value]

    @classmethod
    def waiting(cls) -> tuple[str, ...]:
        """Statuses of letters that still wait for a worker: claimed, re-routed or failed by
        the cascade. Plain strings, for queries and the SQL text of the worker."""
        return (cls.QUEUED.value, cls.DEFERRED.value)

    @classmethod
    def finished(cls) -> tuple[str, ...]:
        """Statuses no worker changes again (retention removes such letters)."""
        return (cls.SENT.value, cls.FAILED.value)


class LogStatus(enum.StrEnum):
    """How one attempt ended, as :class:`SendLog` records it."""

    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"
    #: Failed, and the letter may have been delivered: the connection ended after its final
    #: "." before the server's verdict, or a worker stopped while sending it (SPEC §11).
    POSSIBLY_SENT = "possibly_sent"


STATUS_LABELS = {
    "queued": "В очереди",
    "sending": "Отправляется",
    "deferred": "Отложено",
    "sent": "Отправлено",
    "failed": "Ошибка",
    "possibly_sent": "Возможно, отправлено",
}


class OutboxMessage(Base):
    """One letter waiting for, going through or done with delivery."""

    __tablename__ = "portal_smtp_outbox"
    __table_args__ = (
        # Workers claim due letters in order; the list pages by creation time.
        Index("ix_portal_smtp_outbox_due", "status", "next_attempt_at", "id"),
        Index("ix_portal_smtp_outbox_created", "created_at", "id"),
        # Removing a sender fails the letters bound to it.
        Index("ix_portal_smtp_outbox_sender", "sender_type", "sender_id"),
        Index("ix_portal_smtp_outbox_transport", "transport_type", "transport_id"),
        # Logs and CRM activities refer to letters by id.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: One of :class:`OutboxStatus`.
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.QUEUED.value)
    #: The letter belongs to a mass mailing (the resolver's step 1).
    mailing: Mapped[bool] = mapped_column(default=False)
    #: The From header as written in the letter.
    from_header: Mapped[str] = mapped_column(String(1000))
    #: MAIL FROM (the From address, domain in punycode).
    envelope_from: Mapped[str] = mapped_column(String(320))
    #: RCPT TO addresses, one per line (To, Cc and Bcc).
    recipients: Mapped[str] = mapped_column(Text)
    #: Decoded subject, for the log.
    subject: Mapped[str] = mapped_column(String(1000), default="")
    #: The Message-ID, fixed once when the letter is queued.
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    #: The letter as it goes out (CRLF line endings, no Bcc header).
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    #: Which kind of transport sends it: "account", "mailbox", "sender" or "" (none found).
    transport_type: Mapped[str] = mapped_column(String(16), default="")
    #: The id of that transport's object.
    transport_id: Mapped[int | None]
    #: The sender the letter is bound to since it was queued: "mailbox" or "sender" with
    #: its id, or "" for the portal's own letters (SPEC §8: letters never move to another
    #: sender; see :mod:`portal_smtp.services.routing`).
    sender_type: Mapped[str] = mapped_column(String(16), default="", server_default="")
    sender_id: Mapped[int | None]
    #: Delivery attempts made so far.
    attempts: Mapped[int] = mapped_column(default=0)
    #: When a worker may try next.
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Worker holding the letter, and until when (a lease; expired leases are recovered).
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    lease_until: Mapped[datetime | None]
    #: The last server reply and error, for the log.
    last_reply: Mapped[str] = mapped_column(Text, default="")
    last_error: Mapped[str] = mapped_column(Text, default="")
    #: Recipients whose transaction is over (a letter over its sender's «recipients per
    #: letter» goes out as several transactions): a retry sends to the others only.
    done_recipients: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: Recipients the server refused while accepting the others, "addr: reply" per line.
    refused_recipients: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None]
    #: The portal user who queued it, if any.
    created_by_id: Mapped[str | None] = mapped_column(UserKey(), index=True)

    log_entries: Mapped[list[SendLog]] = relationship(
        back_populates="letter", cascade="all, delete-orphan", passive_deletes=True,
        order_by="SendLog.id",
    )

    @property
    def recipient_list(self) -> list[str]:
        return [line for line in self.recipients.splitlines() if line]

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)


class SendLog(Base):
    """One delivery attempt («Логи отправки писем»)."""

    __tablename__ = "portal_smtp_send_log"
    __table_args__ = (Index("ix_portal_smtp_send_log_time", "attempted_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    outbox_id: Mapped[int] = mapped_column(
        ForeignKey("portal_smtp_outbox.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The attempt's number for its letter (1 for the first).
    attempt: Mapped[int] = mapped_column(default=1)
    #: One of :class:`LogStatus`.
    status: Mapped[str] = mapped_column(String(16))
    #: The transport, as it was then: kind, id and a readable label.
    transport_type: Mapped[str] = mapped_column(String(16), default="")
    transport_id: Mapped[int | None]
    account_label: Mapped[str] = mapped_column(String(600), default="")
    #: The server's reply code and text (truncated, no secrets).
    smtp_code: Mapped[int | None]
    server_reply: Mapped[str] = mapped_column(Text, default="")
    #: The Russian explanation shown to administrators.
    error: Mapped[str] = mapped_column(Text, default="")
    duration_ms: Mapped[int] = mapped_column(default=0)

    letter: Mapped[OutboxMessage] = relationship(back_populates="log_entries")

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)
