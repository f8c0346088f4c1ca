"""Mail providers, users' IMAP mailboxes and their sending settings (SPEC §6, §7)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Base
from ..smtp.settings import host_port
from ..timeutil import utcnow
from .check_status import CheckStatusMixin
from .operations import SendLimitsMixin
from .smtp_server import SmtpServerMixin
from .types import EncryptedText, UserKey

LOGIN_FORMATS = {"manual": "Формировать имя вручную", "email": "Использовать email",
                 "local_part": "Использовать имя почтового ящика"}
AUTH_METHODS = {"basic": "Basic", "oauth2": "OAuth 2.0"}


class MailProvider(SendLimitsMixin, Base):
    """A mail service with known IMAP and SMTP endpoints («Почтовые сервисы»); its limits are
    the defaults of the senders that use it (SPEC §17)."""

    __tablename__ = "portal_smtp_mail_provider"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    imap_host: Mapped[str] = mapped_column(String(253))
    imap_port: Mapped[int]
    #: ssl, starttls or none.
    imap_security: Mapped[str] = mapped_column(String(16))
    smtp_host: Mapped[str] = mapped_column(String(253))
    smtp_port: Mapped[int]
    smtp_security: Mapped[str] = mapped_column(String(16))
    #: How the login is formed from the address: manual, email or local_part.
    login_format: Mapped[str] = mapped_column(String(16), default="email")
    #: basic or oauth2.
    auth_method: Mapped[str] = mapped_column(String(16), default="basic")
    oauth_client_id: Mapped[str] = mapped_column(String(500), default="")
    #: OAuth 2.0 client secret, encrypted at rest.
    oauth_client_secret: Mapped[str | None] = mapped_column(EncryptedText)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    domains: Mapped[list[MailProviderDomain]] = relationship(
        back_populates="provider", cascade="all, delete-orphan", order_by="MailProviderDomain.id")

    def login_for(self, address: str, typed: str = "") -> str:
        """The IMAP/SMTP login for ``address`` by this provider's login format."""
        if self.login_format == "local_part":
            return address.rpartition("@")[0]
        if self.login_format == "manual":
            return typed.strip()
        return address


class MailProviderDomain(Base):
    """«Домены почтовых провайдеров»: a domain belongs to at most one provider."""

    __tablename__ = "portal_smtp_mail_provider_domain"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(
        ForeignKey("portal_smtp_mail_provider.id", ondelete="CASCADE"), index=True)
    #: Lower case, Unicode form (почта.рф, not xn--…).
    domain: Mapped[str] = mapped_column(String(253), unique=True)

    provider: Mapped[MailProvider] = relationship(back_populates="domains")


class Mailbox(Base):
    """A user's connected IMAP mailbox («Почта»)."""

    __tablename__ = "portal_smtp_mailbox"
    __table_args__ = (Index("ix_portal_smtp_mailbox_owner", "user_id", "email_normalized"),
                      {"sqlite_autoincrement": True})  # letters refer to it by id

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The host user who connected it.
    user_id: Mapped[str] = mapped_column(UserKey())
    email: Mapped[str] = mapped_column(String(254))
    email_normalized: Mapped[str] = mapped_column(String(254))
    #: The directory provider, if the address matched one (deleting it is refused meanwhile).
    provider_id: Mapped[int | None] = mapped_column(
        ForeignKey("portal_smtp_mail_provider.id", ondelete="RESTRICT"), index=True)
    imap_host: Mapped[str] = mapped_column(String(253))
    imap_port: Mapped[int]
    imap_security: Mapped[str] = mapped_column(String(16))
    imap_login: Mapped[str] = mapped_column(String(320))
    #: IMAP password, encrypted at rest.
    imap_password: Mapped[str | None] = mapped_column(EncryptedText)
    #: Where the IMAP settings came from: "directory" (the provider matched by the address's
    #: domain), "chosen" (a provider picked by hand) or "manual" (typed by hand).
    imap_source: Mapped[str] = mapped_column(String(16), default="manual",
                                             server_default="manual")
    #: How the user's right to the address is proven: "imap" (a login at the server the
    #: domain designates), "code" (a code letter) or "" (not proven; SPEC §8).
    address_proof: Mapped[str] = mapped_column(String(16), default="", server_default="")
    #: The last IMAP re-check by the worker (SPEC §17): when, whether it passed, its message.
    imap_check_at: Mapped[datetime | None]
    imap_check_ok: Mapped[bool | None]
    imap_check_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    provider: Mapped[MailProvider | None] = relationship()
    sending: Mapped[MailboxSending | None] = relationship(
        back_populates="mailbox", cascade="all, delete-orphan", uselist=False)

    @property
    def sender_key(self) -> tuple[str, int]:
        """How a letter is bound to this mailbox as its sender."""
        return ("mailbox", self.id)

    @property
    def transport_key(self) -> tuple[str, int] | None:
        """("mailbox", id) while external SMTP sending is on (see :mod:`.services.transports`)."""
        return ("mailbox", self.id) if self.sending is not None and self.sending.enabled \
            else None

    @property
    def address_proven(self) -> bool:
        """Whether an admin account may send for this mailbox's address (SPEC §8)."""
        return bool(self.address_proof)


class MailboxSending(CheckStatusMixin, SendLimitsMixin, SmtpServerMixin, Base):
    """«Настройки для исходящих писем» of one mailbox."""

    __tablename__ = "portal_smtp_mailbox_sending"

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(
        ForeignKey("portal_smtp_mailbox.id", ondelete="CASCADE"), unique=True)
    #: «Отправлять через внешний SMTP».
    enabled: Mapped[bool] = mapped_column(default=True)
    #: Server, port and security come from the mailbox's provider.
    use_provider: Mapped[bool] = mapped_column(default=False)
    host: Mapped[str] = mapped_column(String(253), default="")
    port: Mapped[int] = mapped_column(default=587)
    #: ssl, starttls or none («Использовать защищённое соединение» picks ssl or starttls).
    security: Mapped[str] = mapped_column(String(16), default="starttls")
    #: imap («Данные IMAP-ящика»), custom («Другие логин и пароль») or none.
    auth_mode: Mapped[str] = mapped_column(String(16), default="imap")
    login: Mapped[str] = mapped_column(String(320), default="")
    #: Password for custom auth, encrypted at rest.
    password: Mapped[str | None] = mapped_column(EncryptedText)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    mailbox: Mapped[Mailbox] = relationship(back_populates="sending")

    def smtp_values(self) -> dict[str, Any]:
        """The server this mailbox sends through (see :func:`sending_server`)."""
        return sending_server(self.mailbox, self)

    @property
    def server_address(self) -> str:
        """«server:port» it sends through, for pages (no password is read: one no key
        decrypts must not break the list)."""
        values = sending_server(self.mailbox, self)
        return host_port(values["host"], values["port"])


def sending_server(mailbox: Mailbox, values) -> dict[str, Any]:
    """The SMTP server of a mailbox's sending values (a :class:`MailboxSending`, or values
    about to be saved), by :class:`~portal_smtp.smtp.SmtpSettings` field name: the
    provider's server when ``use_provider``, the mailbox's IMAP login when ``auth_mode`` is
    "imap", no login when it is "none"."""
    host, port, security = values.host, values.port, values.security
    if values.use_provider and mailbox.provider is not None:
        provider = mailbox.provider
        host, port, security = provider.smtp_host, provider.smtp_port, provider.smtp_security
    if values.auth_mode == "none":
        auth, login, password = "none", "", ""
    elif values.auth_mode == "imap":
        auth, login, password = "login", mailbox.imap_login, mailbox.imap_password
    else:
        auth, login, password = "login", values.login, values.password
    return {"host": host, "port": port, "security": security, "auth": auth, "login": login,
            "password": password}
