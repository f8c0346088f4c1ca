"""Administrators' SMTP accounts («SMTP-аккаунты», SPEC §4)."""
from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import Float, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import Base
from ..timeutil import utcnow
from .check_status import CheckStatusMixin
from .operations import SendLimitsMixin
from .smtp_server import SERVER_FIELDS, SmtpServerMixin
from .types import EncryptedText


class SmtpAccount(CheckStatusMixin, SendLimitsMixin, SmtpServerMixin, Base):
    """One SMTP account of the strict central list."""

    __tablename__ = "portal_smtp_account"
    __table_args__ = (
        # The resolver looks accounts up by normalised address among active ones.
        Index("ix_portal_smtp_account_lookup", "email_normalized", "active"),
        # The list filters by activity and server and pages in id order without a scan.
        Index("ix_portal_smtp_account_active_id", "active", "id"),
        Index("ix_portal_smtp_account_host_id", "host", "id"),
        # Letters wait for an account by id: a new account must never inherit an old id.
        {"sqlite_autoincrement": True},
    )
    #: The only model that stores the auth type, a timeout and TLS verification.
    smtp_columns: ClassVar[dict[str, str]] = {
        name: name for name in (*SERVER_FIELDS, "auth", "timeout", "verify_tls")}

    id: Mapped[int] = mapped_column(primary_key=True)
    #: «Активен»: inactive accounts never take part in the resolver.
    active: Mapped[bool] = mapped_column(default=True)
    #: «Имя отправителя», as typed.
    sender_name: Mapped[str] = mapped_column(String(200), default="")
    #: «Email отправителя», as typed.
    email: Mapped[str] = mapped_column(String(254))
    #: The address the resolver compares: lower case, domain in Unicode form.
    email_normalized: Mapped[str] = mapped_column(String(254))
    #: «Адрес почтового сервера», lower case (IDN kept in Unicode).
    host: Mapped[str] = mapped_column(String(253))
    #: «Порт почтового сервера».
    port: Mapped[int]
    #: «Защита соединения»: none, ssl or starttls.
    security: Mapped[str] = mapped_column(String(16))
    #: «Тип авторизации»: none, login or xoauth2.
    auth: Mapped[str] = mapped_column(String(16))
    #: «Логин».
    login: Mapped[str] = mapped_column(String(320), default="")
    #: «Пароль» (or the OAuth access token), encrypted at rest.
    password: Mapped[str | None] = mapped_column(EncryptedText)
    #: Seconds each network step may take; None uses the module's default.
    timeout: Mapped[float | None] = mapped_column(Float)
    #: Verify the server certificate (only an administrator may turn this off).
    verify_tls: Mapped[bool] = mapped_column(default=True)
    #: «Искать в первую очередь для рассылок».
    mailing_first: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<SmtpAccount {self.id} {self.email}>"
