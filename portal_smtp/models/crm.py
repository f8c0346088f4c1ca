"""CRM senders («От кого»), their confirmations, composer templates and the cascade log
(SPEC §8). The CRM entities themselves are the host's."""
from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import Index, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import Base
from ..timeutil import utcnow
from .check_status import CheckStatusMixin
from .operations import SendLimitsMixin
from .smtp_server import SERVER_FIELDS, SmtpServerMixin
from .types import EncryptedText, UserKey


class CrmSender(CheckStatusMixin, SendLimitsMixin, SmtpServerMixin, Base):
    """A sender of the «От кого» list added in the CRM: confirmed by a code, or with an SMTP
    server of its own («SMTP-сервера»)."""

    __tablename__ = "portal_smtp_crm_sender"
    __table_args__ = (Index("ix_portal_smtp_crm_sender_owner", "user_id", "email_normalized"),
                      {"sqlite_autoincrement": True})  # letters refer to it by id
    #: Its server's columns carry an ``smtp_`` prefix (a sender is more than its server).
    smtp_columns: ClassVar[dict[str, str]] = {name: f"smtp_{name}" for name in SERVER_FIELDS}

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The host user who added it.
    user_id: Mapped[str] = mapped_column(UserKey())
    #: «Имя».
    name: Mapped[str] = mapped_column(String(200), default="")
    #: «Email».
    email: Mapped[str] = mapped_column(String(254))
    email_normalized: Mapped[str] = mapped_column(String(254))
    #: «Доступен всем»: other users see it in «От кого» (and cannot delete it).
    shared: Mapped[bool] = mapped_column(default=False)
    #: Whether it sends through its own SMTP server (else through the admin accounts).
    has_smtp: Mapped[bool] = mapped_column(default=False)
    smtp_host: Mapped[str] = mapped_column(String(253), default="")
    smtp_port: Mapped[int] = mapped_column(default=587)
    smtp_security: Mapped[str] = mapped_column(String(16), default="starttls")
    smtp_login: Mapped[str] = mapped_column(String(320), default="")
    #: SMTP password, encrypted at rest.
    smtp_password: Mapped[str | None] = mapped_column(EncryptedText)
    #: The address was confirmed by a code sent to it: admin accounts may send for it.
    #: A sender with its own SMTP server proves nothing about the address (SPEC §8).
    address_proven: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def sender_key(self) -> tuple[str, int]:
        """How a letter is bound to this sender."""
        return ("sender", self.id)

    @property
    def transport_key(self) -> tuple[str, int] | None:
        """("sender", id) when it has its own SMTP; else None (the resolver decides)."""
        return ("sender", self.id) if self.has_smtp else None


class CascadeRecord(Base):
    """Who removed what, and when, through the cascade service."""

    __tablename__ = "portal_smtp_cascade_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The host user who acted, if any.
    actor_id: Mapped[str | None] = mapped_column(UserKey())
    #: mailbox_deleted, mailbox_sending_disabled, sender_deleted or user_removed.
    action: Mapped[str] = mapped_column(String(40))
    #: What went with it, in Russian, for administrators.
    details: Mapped[str] = mapped_column(Text, default="")


class SenderConfirmation(Base):
    """A pending «Добавить отправителя» by code: the code is kept only as a hash."""

    __tablename__ = "portal_smtp_sender_confirmation"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(UserKey(), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(254))
    email_normalized: Mapped[str] = mapped_column(String(254))
    shared: Mapped[bool] = mapped_column(default=False)
    #: A salted hash of the six-digit code (werkzeug's password hash).
    code_hash: Mapped[str] = mapped_column(String(256))
    expires_at: Mapped[datetime]
    #: Wrong codes entered so far, and codes sent so far.
    attempts: Mapped[int] = mapped_column(default=0)
    sends: Mapped[int] = mapped_column(default=1)
    last_sent_at: Mapped[datetime] = mapped_column(default=utcnow)


class EmailTemplate(Base):
    """«Шаблон» of the composer, saved by «Сохранить как шаблон»."""

    __tablename__ = "portal_smtp_email_template"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(UserKey(), index=True)
    name: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(1000), default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
