"""Users' IMAP mailboxes: connecting with a verified login, and their sending settings."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from ..extension import HostUser, user_key
from ..extensions import db
from ..models import CrmSender, Mailbox, MailboxSending, MailProvider
from ..models.mail import sending_server
from ..models.smtp_server import settings_for
from ..smtp import CheckResult, InvalidSettings, SmtpSettings
from ..smtp.addresses import normalize_address
from ..smtp.imap import check_imap
from ..smtp.policy import IMAP_PORTS
from ..smtp.settings import secure_choice
from .module_settings import effective_policy, get_module_settings
from .providers import detect_provider
from .routing import judge_mailbox_proof
from .verification import BUSY_CODE, guarded, verify


class MailboxError(ValueError):
    """A mailbox change that is refused; the message is Russian and safe to show."""


@dataclass
class MailboxInput:
    """«Подключить ящик»: the address, the password and, without a provider, the server."""

    email: str
    password: str = field(default="", repr=False)
    provider: MailProvider | None = None
    imap_host: str = ""
    imap_port: int | None = None
    imap_security: str = "ssl"
    login: str = ""


def imap_settings(data: MailboxInput) -> SmtpSettings:
    """The IMAP server and login ``data`` describes (the provider's, or typed by hand)."""
    timeout = get_module_settings().default_timeout
    if data.provider is not None:
        provider = data.provider
        return SmtpSettings(host=provider.imap_host, port=provider.imap_port,
                            security=provider.imap_security, auth="login",
                            login=provider.login_for(data.email, data.login) or data.email,
                            password=data.password, timeout=timeout)
    return SmtpSettings(host=data.imap_host, port=data.imap_port or
                        (993 if data.imap_security == "ssl" else 143),
                        security=data.imap_security, auth="login",
                        login=data.login.strip() or data.email, password=data.password,
                        timeout=timeout)


def imap_source(data: MailboxInput) -> str:
    """Where the IMAP settings came from: the directory provider of the address's domain,
    a provider picked by hand, or settings typed by hand (SPEC §6)."""
    if data.provider is None:
        return "manual"
    return "directory" if detect_provider(data.email) == data.provider else "chosen"


def connect_mailbox(user: HostUser, data: MailboxInput) -> tuple[Mailbox | None, CheckResult]:
    """Check the IMAP login, then save the mailbox; nothing is saved when the check fails."""
    normalized = normalize_address(data.email)
    _refuse_connected(user, data.email, normalized)
    settings = imap_settings(data)
    policy = effective_policy().with_ports(IMAP_PORTS)
    provider_id = data.provider.id if data.provider is not None else None
    # No database connection is held during the login (SPEC §10); loaded objects reload.
    result = guarded(lambda: check_imap(settings, policy=policy))
    if not result.ok:
        return None, result
    _refuse_connected(user, data.email, normalized)  # connected meanwhile by another request
    if provider_id is not None and db.session.get(MailProvider, provider_id) is None:
        raise MailboxError("Почтовый сервис удалили, пока проверялся вход. Выберите другой "
                           "сервис или укажите настройки вручную.")
    mailbox = Mailbox(user_id=user_key(user), email=data.email.strip(), email_normalized=normalized,
                      provider=data.provider, imap_source=imap_source(data),
                      imap_host=settings.host.lower(), imap_port=settings.effective_port,
                      imap_security=settings.security.value, imap_login=settings.login,
                      imap_password=data.password)
    mailbox.address_proof = judge_mailbox_proof(mailbox)
    db.session.add(mailbox)
    db.session.flush()
    return mailbox, result


def _refuse_connected(user: HostUser, email: str, normalized: str) -> None:
    if db.session.scalar(select(Mailbox.id).where(Mailbox.user_id == user_key(user),
                                                  Mailbox.email_normalized == normalized)):
        raise MailboxError(f"Ящик {email} уже подключён.")


def user_mailbox(user: HostUser, mailbox_id: int) -> Mailbox | None:
    """The user's own mailbox, or None (another user's id is as good as a missing one)."""
    return db.session.scalar(select(Mailbox).where(Mailbox.id == mailbox_id,
                                                   Mailbox.user_id == user_key(user)))


# --- «Настройка SMTP отправки» -------------------------------------------------------------

@dataclass
class SendingInput:
    """«Настройки для исходящих писем»."""

    use_provider: bool = False
    host: str = ""
    port: int | None = None
    secure: bool = True
    #: imap, custom or none.
    auth_mode: str = "imap"
    login: str = ""
    #: Blank keeps the stored password.
    password: str = field(default="", repr=False)
    #: A blank password means the offered CRM sender's password (first configuration).
    use_offered_password: bool = False
    #: «Лимиты отправки» by column (SPEC §17).
    limits: dict[str, int | None] = field(default_factory=dict)


def crm_sender_to_offer(mailbox: Mailbox):
    """The owner's CRM SMTP sender with the mailbox's address, offered when sending is
    configured for the first time (SPEC §6)."""
    if mailbox.sending is not None:
        return None
    return db.session.scalar(select(CrmSender).where(
        CrmSender.user_id == mailbox.user_id, CrmSender.has_smtp.is_(True),
        CrmSender.email_normalized == mailbox.email_normalized).order_by(CrmSender.id.desc()))


def provider_can_send(mailbox: Mailbox) -> bool:
    """Whether the mailbox's provider knows its SMTP server (then the toggle is enough)."""
    return mailbox.provider is not None and bool(mailbox.provider.smtp_host)


@dataclass(frozen=True)
class SendingValues:
    """Sending settings as they would be saved (no model object, so nothing is flushed)."""

    mailbox: Mailbox = field(repr=False, compare=False)
    use_provider: bool
    host: str
    port: int
    security: str
    auth_mode: str
    login: str
    password: str | None = field(repr=False)

    def smtp_values(self) -> dict[str, object]:
        """The server these values send through, as :func:`.settings_for` reads it."""
        return sending_server(self.mailbox, self)


def resolve_input(mailbox: Mailbox, data: SendingInput) -> SendingValues:
    """The values ``data`` means for ``mailbox`` (a blank password keeps the stored one)."""
    stored = mailbox.sending
    offered = crm_sender_to_offer(mailbox) if data.use_offered_password else None
    stored_password = stored.password if stored is not None else (
        offered.smtp_password if offered is not None else None)
    use_provider = data.use_provider and provider_can_send(mailbox)
    port, security = secure_choice(data.port, data.secure)
    return SendingValues(
        mailbox=mailbox, use_provider=use_provider, host=data.host.strip().lower(),
        port=port, security=security.value, auth_mode=data.auth_mode, login=data.login.strip(),
        password=data.password or stored_password,
    )


def check_sending(mailbox: Mailbox, data: SendingInput) -> CheckResult:
    """Run SPEC §3 for the submitted settings, proving the mailbox's own address."""
    values = resolve_input(mailbox, data)
    settings = settings_for(values, get_module_settings().default_timeout)
    return verify(settings, sender=mailbox.email, label=mailbox.email)


def save_sending(mailbox: Mailbox, data: SendingInput, result: CheckResult) -> MailboxSending:
    """Store checked settings (a failed check saves nothing)."""
    if not result.ok:
        raise ValueError("a failed check saves nothing")
    values = resolve_input(mailbox, data)
    sending = mailbox.sending or MailboxSending(mailbox_id=mailbox.id)
    for name in ("use_provider", "host", "port", "security", "auth_mode", "login", "password"):
        setattr(sending, name, getattr(values, name))
    for name, value in data.limits.items():
        setattr(sending, name, value)
    sending.enabled = True
    sending.record_check(result)
    mailbox.sending = sending
    db.session.add(sending)
    db.session.flush()
    return sending


def recheck_sending(mailbox: Mailbox) -> CheckResult | None:
    """Check the stored settings again (the modal does it each time it opens)."""
    sending = mailbox.sending
    if sending is None:
        return None
    timeout = get_module_settings().default_timeout
    try:
        settings = settings_for(sending, timeout)
    except InvalidSettings as error:  # e.g. a password no key decrypts: say so, no network
        result = CheckResult(False, "unexpected", str(error))
        sending.record_check(result)
        db.session.flush()
        return result
    result = verify(settings, sender=mailbox.email, label=mailbox.email)
    # The session was released during the check: the settings reload, and a verdict on
    # settings replaced meanwhile (or a refused check) is not recorded on the new ones.
    if result.code != BUSY_CODE and settings_for(sending, timeout) == settings:
        sending.record_check(result)
        db.session.flush()
    return result
