"""Demo data for ``smtp init-db --demo``: an administrator and two users."""
from __future__ import annotations

from sqlalchemy import select

from ..extensions import db
from ..models import Mailbox, Role, User

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
    db.session.flush()
    return created
