"""Demo data for ``smtp init-db --demo``: an administrator and two users."""
from __future__ import annotations

from sqlalchemy import select

from ..extensions import db
from ..models import CrmEntity, Mailbox, Role, SmtpAccount, User

#: (login, full name, e-mail, role, demo password) — demo only, shown once by init-db.
DEMO_USERS = (
    ("admin", "Анна Админова", "admin@example.com", Role.ADMIN, "admin-demo"),
    ("ivanov", "Иван Иванов", "ivanov@example.com", Role.USER, "ivanov-demo"),
    ("petrova", "Мария Петрова", "petrova@example.com", Role.USER, "petrova-demo"),
)


def create_demo_data() -> list[tuple[User, str]]:
    """Create the demo users that do not exist yet, each user with a demo mailbox;
    returns the new users with their passwords."""
    created = []
    for username, full_name, email, role, secret in DEMO_USERS:
        if db.session.scalar(select(User.id).where(User.username == username)):
            continue
        user = User(username=username, full_name=full_name, email=email, role=role.value)
        user.set_password(secret)
        db.session.add(user)
        db.session.flush()
        created.append((user, secret))
        if role is Role.USER:
            # A mailbox stored without an IMAP check (there is no IMAP server in a demo):
            # its «Настройка SMTP отправки» can point at the test mailbox on 127.0.0.1:2525.
            db.session.add(Mailbox(user_id=user.id, email=email, email_normalized=email,
                                   imap_host="127.0.0.1", imap_port=1143, imap_security="none",
                                   imap_login=email, imap_password=secret))
    if created:
        _demo_crm_and_system_account(created[0][0])
    db.session.flush()
    return created


def _demo_crm_and_system_account(admin: User) -> None:
    """A deal, a lead, a contact and a company; and an admin SMTP account for the portal's
    own letters (codes) on the development test mailbox, 127.0.0.1:2525."""
    for kind, title, email in (
            ("deal", "Поставка оборудования для ООО «Ромашка»", "zakupki@romashka.example"),
            ("lead", "Запрос с сайта: интеграция с 1С", "it@lead.example"),
            ("contact", "Сергей Смирнов", "smirnov@client.example"),
            ("company", "АО «Вектор»", "office@vector.example")):
        db.session.add(CrmEntity(kind=kind, title=title, email=email, owner_id=admin.id))
    db.session.add(SmtpAccount(
        sender_name="Корпоративный портал", email="noreply@example.com",
        email_normalized="noreply@example.com", host="127.0.0.1", port=2525, security="none",
        auth="none", login=""))
