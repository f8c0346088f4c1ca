"""The minimal CRM the module plugs into, and its e-mail senders (SPEC §8)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..smtp import SmtpSettings
from ..timeutil import utcnow
from .check_status import CheckStatusMixin
from .types import EncryptedText

ENTITY_KINDS = {"deal": "Сделка", "lead": "Лид", "contact": "Контакт", "company": "Компания"}


class CrmEntity(db.Model):
    """A deal, lead, contact or company."""

    __tablename__ = "portal_smtp_crm_entity"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: deal, lead, contact or company.
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(300))
    #: The client's address, offered in «Кому».
    email: Mapped[str] = mapped_column(String(254), default="")
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("portal_smtp_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    activities: Mapped[list[CrmActivity]] = relationship(
        back_populates="entity", cascade="all, delete-orphan",
        order_by="CrmActivity.id.desc()")

    @property
    def kind_label(self) -> str:
        return ENTITY_KINDS.get(self.kind, self.kind)


class CrmActivity(db.Model):
    """An entry of an entity's timeline: here, an e-mail sent from the composer."""

    __tablename__ = "portal_smtp_crm_activity"

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_id: Mapped[int] = mapped_column(
        ForeignKey("portal_smtp_crm_entity.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="email")
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("portal_smtp_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    subject: Mapped[str] = mapped_column(String(1000), default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    #: The letter in the outbox, whose status the timeline shows.
    outbox_id: Mapped[int | None] = mapped_column(
        ForeignKey("portal_smtp_outbox.id", ondelete="SET NULL"))

    entity: Mapped[CrmEntity] = relationship(back_populates="activities")


class CrmSender(CheckStatusMixin, db.Model):
    """A sender of the «От кого» list added in the CRM: confirmed by a code, or with an SMTP
    server of its own («SMTP-сервера»)."""

    __tablename__ = "portal_smtp_crm_sender"
    __table_args__ = (Index("ix_portal_smtp_crm_sender_owner", "user_id", "email_normalized"),
                      {"sqlite_autoincrement": True})  # letters refer to it by id

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("portal_smtp_user.id", ondelete="CASCADE"))
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

    def smtp_settings(self, default_timeout: float = 10) -> SmtpSettings:
        """The sender's own SMTP settings."""
        auth = "login" if self.smtp_login else "none"
        return SmtpSettings(host=self.smtp_host, port=self.smtp_port,
                            security=self.smtp_security, auth=auth, login=self.smtp_login,
                            password=self.smtp_password or "", timeout=default_timeout)


class CascadeRecord(db.Model):
    """Who removed what, and when, through the cascade service."""

    __tablename__ = "portal_smtp_cascade_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("portal_smtp_user.id", ondelete="SET NULL"))
    #: mailbox_deleted, mailbox_sending_disabled or sender_deleted.
    action: Mapped[str] = mapped_column(String(40))
    #: What went with it, in Russian, for administrators.
    details: Mapped[str] = mapped_column(Text, default="")


class SenderConfirmation(db.Model):
    """A pending «Добавить отправителя» by code: the code is kept only as a hash."""

    __tablename__ = "portal_smtp_sender_confirmation"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("portal_smtp_user.id", ondelete="CASCADE"),
                                         index=True)
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


class EmailTemplate(db.Model):
    """«Шаблон» of the composer, saved by «Сохранить как шаблон»."""

    __tablename__ = "portal_smtp_email_template"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("portal_smtp_user.id", ondelete="CASCADE"),
                                         index=True)
    name: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(1000), default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
