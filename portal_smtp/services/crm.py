"""The CRM composer (SPEC §8): the letter from «От кого» to the host's timeline, templates,
and adding senders by a confirmation code or with their own SMTP server."""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formataddr
from html import escape
from html.parser import HTMLParser

from flask import current_app
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from ..config import setting
from ..extension import EntityRef, HostUser, user_email, user_key, user_name
from ..extensions import db
from ..models import (
    CrmSender,
    EmailTemplate,
    Mailbox,
    OutboxMessage,
    OutboxStatus,
    SenderConfirmation,
)
from ..models.smtp_server import settings_for
from ..signals import composer_letter_queued
from ..smtp import CheckResult
from ..smtp.addresses import explain_address_list, normalize_address, parse_from_header
from ..smtp.settings import secure_choice
from ..timeutil import utcnow
from . import cascade
from .crm_senders import can_delete, senders_for
from .letters import HEADER_ERRORS, HEADER_REFUSED
from .module_settings import get_module_settings
from .outbox import SendRefused, send_mail
from .verification import verify

CODE_TTL = timedelta(minutes=15)
MAX_CODE_ATTEMPTS = 5
MAX_CODE_SENDS = 3
RESEND_PAUSE = timedelta(seconds=60)
MAILBOX_SENDER = "Отправитель подключён в разделе «Почта». Отключите его там"


class CrmError(ValueError):
    """A refused CRM action; the message is Russian and safe to show."""


# --- the composer ---------------------------------------------------------------------------

@dataclass
class ComposeInput:
    """What the composer submits."""

    sender: str  # "mailbox:ID" or "sender:ID"
    to: list[str]
    subject: str
    body_html: str
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    copy_to_me: bool = False
    important: bool = False


def split_addresses(values: list[str]) -> list[str]:
    """Addresses from inputs that may each hold several, separated by commas or semicolons."""
    return [part.strip() for value in values for part in re.split(r"[,;]", value or "")
            if part.strip()]


def choose_sender(user: HostUser, choice: str) -> Mailbox | CrmSender:
    """The «От кого» choice, only from the senders this user may use."""
    kind, _, raw_id = choice.partition(":")
    mailboxes, senders = senders_for(user)
    pool = mailboxes if kind == "mailbox" else senders if kind == "sender" else []
    for item in pool:
        if str(item.id) == raw_id:
            return item
    raise CrmError("Выберите отправителя из списка «От кого».")


FIELD_NAMES = {"to": "Кому", "cc": "Копия", "bcc": "Скрытая копия"}
HTML_TAG = re.compile(r"<\s*/?\s*[a-zA-Z][^>]*>")


def check_addresses(data: ComposeInput) -> None:
    """Every address of «Кому», «Копия» and «Скрытая копия» must be valid."""
    for name in FIELD_NAMES:
        for address in getattr(data, name):
            mailbox = parse_from_header(address)
            if mailbox is None:
                raise CrmError(f"Некорректный адрес в поле «{FIELD_NAMES[name]}»: "
                               f"{address[:200]} — {explain_address_list(address)}.")


def body_parts(body: str) -> tuple[str, str]:
    """(plain text, HTML) of the composer's body: HTML as typed, or plain text whose lines
    become <br> lines."""
    if not HTML_TAG.search(body):
        return body.strip(), escape(body.strip()).replace("\n", "<br>\n")
    return html_to_text(body), body


class _TextOf(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        if tag in ("br", "p", "div", "li", "tr"):
            self.parts.append("\n")

    def handle_data(self, data) -> None:
        self.parts.append(data)


def html_to_text(html: str) -> str:
    """A plain-text alternative of an HTML body (an HTML parser, so «< 100» survives)."""
    parser = _TextOf()
    parser.feed(html)
    parser.close()
    return re.sub(r"\n{3,}", "\n\n", "".join(parser.parts)).strip()


def build_letter(user: HostUser, sender: Mailbox | CrmSender, data: ComposeInput) -> EmailMessage:
    """The letter the composer describes (headers validated again by ``send_mail``)."""
    name = sender.name if isinstance(sender, CrmSender) and sender.name else user_name(user)
    letter = EmailMessage()
    try:
        letter["From"] = formataddr((name, sender.email))
        letter["To"] = ", ".join(data.to)
        if data.cc:
            letter["Cc"] = ", ".join(data.cc)
        bcc = list(data.bcc) + ([user_email(user)] if data.copy_to_me and user_email(user) else [])
        if bcc:
            letter["Bcc"] = ", ".join(bcc)
        letter["Subject"] = data.subject
        if data.important:
            letter["Importance"] = "high"
            letter["X-Priority"] = "1 (Highest)"
    except HEADER_ERRORS:  # email refuses line breaks in a header value, in English
        raise CrmError(HEADER_REFUSED) from None
    text, html = body_parts(data.body_html)
    letter.set_content(text or " ")
    letter.add_alternative(html or "<p></p>", subtype="html")
    return letter


def send_from_composer(user: HostUser, entity: EntityRef, data: ComposeInput) -> int:
    """«Отправить»: queue the letter and announce it (:data:`composer_letter_queued`) so
    that the host records it on the entity's timeline; returns the outbox id.

    Raises :class:`CrmError` when the letter is refused; a letter no transport can send is
    kept (failed, with the reason), and the host's timeline shows that.
    """
    if not data.to:
        raise CrmError("Укажите хотя бы одного получателя в поле «Кому».")
    check_addresses(data)
    sender = choose_sender(user, data.sender)
    letter = build_letter(user, sender, data)
    try:
        outbox_id = send_mail(letter, sender=sender, commit=False, created_by_id=user_key(user))
    except SendRefused as error:
        raise CrmError(str(error)) from None
    summary = (f"Кому: {', '.join(data.to)}"
               + (f"; копия: {', '.join(data.cc)}" if data.cc else "")
               + (f"; скрытая копия: {', '.join(data.bcc)}" if data.bcc else ""))
    composer_letter_queued.send(None, outbox_id=outbox_id, entity=entity, user=user,
                                subject=data.subject[:1000], summary=summary)
    return outbox_id


def letter(outbox_id: int | None) -> OutboxMessage | None:
    """A letter of the outbox by id (for a timeline's delivery status), or None."""
    return db.session.get(OutboxMessage, outbox_id) if outbox_id else None


def save_template(user: HostUser, name: str, subject: str, body_html: str) -> EmailTemplate:
    """«Сохранить как шаблон»."""
    if not name.strip():
        raise CrmError("Укажите название шаблона.")
    key = user_key(user)
    if db.session.scalar(select(EmailTemplate.id).where(EmailTemplate.user_id == key,
                                                        EmailTemplate.name == name.strip())):
        raise CrmError(f"Шаблон «{name.strip()}» уже есть — выберите другое название.")
    template = EmailTemplate(user_id=key, name=name.strip()[:200], subject=subject[:1000],
                             body_html=body_html)
    db.session.add(template)
    db.session.flush()
    return template


def templates_for(user: HostUser) -> list[EmailTemplate]:
    return list(db.session.scalars(select(EmailTemplate)
                                   .where(EmailTemplate.user_id == user_key(user))
                                   .order_by(EmailTemplate.name)))


# --- adding senders -------------------------------------------------------------------------

def _check_new_address(user: HostUser, email: str) -> str:
    normalized = normalize_address(email)
    mailboxes, _ = senders_for(user)
    if any(m.email_normalized == normalized for m in mailboxes):
        raise CrmError(f"Адрес {email} уже подключён в разделе «Почта» — выберите его в "
                       "«От кого».")
    if db.session.scalar(select(CrmSender.id).where(CrmSender.user_id == user_key(user),
                                                    CrmSender.email_normalized == normalized)):
        raise CrmError(f"Отправитель {email} уже есть в вашем списке.")
    return normalized


def _send_code(confirmation: SenderConfirmation, code: str) -> None:
    system_from = setting("SMTP_SYSTEM_FROM")
    if not system_from:
        raise CrmError("Отправка кодов не настроена: администратор должен указать адрес "
                       "системных писем (PORTAL_SMTP_SYSTEM_FROM).")
    letter = EmailMessage()
    letter["From"] = system_from
    letter["To"] = confirmation.email
    letter["Subject"] = f"Код подтверждения отправителя: {code}"
    letter.set_content(
        f"Здравствуйте!\n\nКод для подтверждения адреса {confirmation.email} как отправителя "
        f"писем из CRM: {code}\n\nКод действует 15 минут. Если вы не запрашивали код, просто "
        "не отвечайте на это письмо.\n")
    try:
        letter_id = send_mail(letter, commit=False)
    except SendRefused as error:
        raise CrmError(f"Не удалось отправить код: {error}") from None
    stored = db.session.get(OutboxMessage, letter_id)
    if stored.status == OutboxStatus.FAILED:
        raise CrmError(f"Не удалось отправить код: {stored.last_error}")


def start_confirmation(user: HostUser, name: str, email: str, shared: bool) -> SenderConfirmation:
    """«Получить код»: a six-digit code goes to the address; only its hash is kept."""
    normalized = _check_new_address(user, email)
    code = f"{secrets.randbelow(1_000_000):06d}"
    confirmation = SenderConfirmation(
        user_id=user_key(user), name=name.strip(), email=email.strip(), email_normalized=normalized,
        shared=shared, code_hash=generate_password_hash(code), expires_at=utcnow() + CODE_TTL)
    db.session.add(confirmation)
    db.session.flush()
    _send_code(confirmation, code)
    return confirmation


def resend_code(user: HostUser, confirmation: SenderConfirmation) -> None:
    """Send a new code (at most three, a minute apart)."""
    if confirmation.user_id != user_key(user):
        raise CrmError("Запрос на подтверждение не найден.")
    if confirmation.sends >= MAX_CODE_SENDS:
        raise CrmError("Код уже отправлялся три раза. Начните добавление отправителя заново "
                       "позже.")
    if utcnow() - confirmation.last_sent_at < RESEND_PAUSE:
        raise CrmError("Новый код можно запросить через минуту после предыдущего.")
    code = f"{secrets.randbelow(1_000_000):06d}"
    confirmation.code_hash = generate_password_hash(code)
    confirmation.expires_at = utcnow() + CODE_TTL
    confirmation.sends += 1
    confirmation.attempts = 0
    confirmation.last_sent_at = utcnow()
    db.session.flush()
    _send_code(confirmation, code)


def confirm_sender(user: HostUser, confirmation: SenderConfirmation, code: str) -> CrmSender:
    """«Введите код из письма»: a right code within time and attempts saves the sender."""
    if confirmation.user_id != user_key(user):
        raise CrmError("Запрос на подтверждение не найден.")
    if utcnow() > confirmation.expires_at:
        raise CrmError("Срок действия кода истёк. Запросите новый код.")
    if confirmation.attempts >= MAX_CODE_ATTEMPTS:
        raise CrmError("Слишком много неверных попыток. Запросите новый код.")
    if not check_password_hash(confirmation.code_hash, code.strip()):
        confirmation.attempts += 1
        db.session.flush()
        left = MAX_CODE_ATTEMPTS - confirmation.attempts
        raise CrmError(f"Неверный код. Осталось попыток: {left}.")
    sender = CrmSender(user_id=user_key(user), name=confirmation.name, email=confirmation.email,
                       email_normalized=confirmation.email_normalized, shared=confirmation.shared,
                       address_proven=True)
    db.session.add(sender)
    db.session.delete(confirmation)
    db.session.flush()
    return sender


@dataclass
class SmtpSenderInput:
    """«Добавить отправителя» with «SMTP-сервера»."""

    name: str
    email: str
    shared: bool
    host: str
    port: int | None
    secure: bool
    login: str
    password: str = field(default="", repr=False)

    def smtp_values(self) -> dict[str, object]:
        """The server as :func:`.settings_for` reads it (no login: no password either)."""
        port, security = secure_choice(self.port, self.secure)
        login = self.login.strip()
        return {"host": self.host, "port": port, "security": security, "login": login,
                "password": self.password if login else ""}


def add_smtp_sender(user: HostUser, data: SmtpSenderInput) -> tuple[CrmSender | None, CheckResult]:
    """Verify sending (SPEC §3) for the address, then save; a failed check saves nothing."""
    normalized = _check_new_address(user, data.email)
    settings = settings_for(data, get_module_settings().default_timeout)
    # The check releases the session while it waits on the server (SPEC §10) …
    result = verify(settings, sender=data.email.strip(), label=data.name or data.email)
    if not result.ok:
        return None, result
    _check_new_address(user, data.email)  # … so the address may have been added meanwhile
    sender = CrmSender(user_id=user_key(user), name=data.name.strip(), email=data.email.strip(),
                       email_normalized=normalized, shared=data.shared, has_smtp=True,
                       smtp_host=settings.host.lower(), smtp_port=settings.effective_port,
                       smtp_security=settings.security.value, smtp_login=settings.login,
                       smtp_password=settings.password or None)
    sender.record_check(result)
    db.session.add(sender)
    db.session.flush()
    current_app.logger.info("CRM sender %s added by %s", sender.email, user_name(user))
    return sender, result


def delete_sender(user: HostUser, sender: CrmSender) -> None:
    """Delete a CRM sender; only the user who added it may (mailbox senders live in «Почта»)."""
    if not can_delete(user, sender):
        raise CrmError("Удалить отправителя может только тот, кто его добавил.")
    cascade.delete_sender(sender, user)  # its waiting letters fail with the reason
