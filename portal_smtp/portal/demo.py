"""Demo data of the demo host (``flask portal demo``): users, a mailbox each, deals, and the
portal's own SMTP account on the development mail catcher.

Only for development and tests: the passwords are known ones, so :func:`create_demo_data`
refuses to run in production. Each piece is created only when it is missing, and the result
names only what this run created (passwords are shown once, by the command).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import select

from ..models import Mailbox, SmtpAccount
from .extensions import db
from .models import CrmEntity, Role, User

#: (login, full name, e-mail, role, demo password) — known passwords, development only.
DEMO_USERS = (
    ("admin", "Анна Админова", "admin@example.com", Role.ADMIN, "admin-demo"),
    ("ivanov", "Иван Иванов", "ivanov@example.com", Role.USER, "ivanov-demo"),
    ("petrova", "Мария Петрова", "petrova@example.com", Role.USER, "petrova-demo"),
)
#: (kind, title, client's address) of the demo CRM, owned by the demo administrator.
DEMO_ENTITIES = (
    ("deal", "Поставка оборудования для ООО «Ромашка»", "zakupki@romashka.example"),
    ("lead", "Запрос с сайта: интеграция с 1С", "it@lead.example"),
    ("contact", "Сергей Смирнов", "smirnov@client.example"),
    ("company", "АО «Вектор»", "office@vector.example"),
)
#: The portal's own sender (codes, notifications), delivered to the development mail catcher.
SYSTEM_ADDRESS = "noreply@example.com"
REFUSED_IN_PRODUCTION = ("Демо-данные создаются только при разработке: у демо-пользователей "
                         "известные пароли. Первого администратора создайте командой "
                         "«flask portal users add ЛОГИН --full-name ИМЯ --email АДРЕС "
                         "--admin».")


class DemoRefused(Exception):
    """The demo data may not be created here (production)."""


@dataclass
class DemoData:
    """What one run of :func:`create_demo_data` created."""

    #: New users with their passwords (shown once).
    users: list[tuple[User, str]] = field(default_factory=list)
    mailboxes: list[Mailbox] = field(default_factory=list)
    account: SmtpAccount | None = None
    entities: list[CrmEntity] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True when everything was already there."""
        return not (self.users or self.mailboxes or self.account or self.entities)


def create_demo_data() -> DemoData:
    """Create the demo users, mailboxes, deals and system account that are missing; flushes,
    the caller commits. Raises :class:`DemoRefused` in production."""
    if current_app.config.get("ENV") == "production":
        raise DemoRefused(REFUSED_IN_PRODUCTION)
    created = DemoData()
    for username, full_name, email, role, password in DEMO_USERS:
        if db.session.scalar(select(User.id).where(User.username == username)):
            continue
        user = User(username=username, full_name=full_name, email=email, role=role.value)
        user.set_password(password)
        db.session.add(user)
        db.session.flush()
        created.users.append((user, password))
        if role is Role.USER:
            created.mailboxes.append(_demo_mailbox(user, password))
    created.account = _system_account()
    created.entities = _demo_entities()
    db.session.flush()
    return created


def _demo_mailbox(user: User, password: str) -> Mailbox:
    """A mailbox stored without an IMAP check (a demo has no IMAP server): its «Настройка SMTP
    отправки» can point at the development mail catcher."""
    mailbox = Mailbox(user_id=user.id, email=user.email, email_normalized=user.email,
                      imap_host="127.0.0.1", imap_port=1143, imap_security="none",
                      imap_login=user.email, imap_password=password)
    db.session.add(mailbox)
    return mailbox


def _system_account() -> SmtpAccount | None:
    """The admin SMTP account for the portal's own letters, on the development mail catcher
    (``SMTP_DEVMAIL_HOST``/``SMTP_DEVMAIL_PORT``), unless one for its address exists."""
    if db.session.scalar(select(SmtpAccount.id).where(
            SmtpAccount.email_normalized == SYSTEM_ADDRESS)):
        return None
    account = SmtpAccount(
        sender_name="Корпоративный портал", email=SYSTEM_ADDRESS,
        email_normalized=SYSTEM_ADDRESS, host=current_app.config["SMTP_DEVMAIL_HOST"],
        port=int(current_app.config["SMTP_DEVMAIL_PORT"]), security="none", auth="none",
        login="")
    db.session.add(account)
    return account


def _demo_entities() -> list[CrmEntity]:
    """The demo deal, lead, contact and company that are missing, owned by ``admin``."""
    owner = db.session.scalar(select(User).where(User.username == DEMO_USERS[0][0]))
    existing = set(db.session.scalars(select(CrmEntity.title)))
    entities = [CrmEntity(kind=kind, title=title, email=email,
                          owner_id=owner.id if owner else None)
                for kind, title, email in DEMO_ENTITIES if title not in existing]
    db.session.add_all(entities)
    return entities
