"""Demo data for ``smtp init-db --demo``: an administrator and two users."""
from __future__ import annotations

from sqlalchemy import select

from ..extensions import db
from ..models import Role, User

#: (login, full name, e-mail, role, demo password) — demo only, shown once by init-db.
DEMO_USERS = (
    ("admin", "Анна Админова", "admin@example.com", Role.ADMIN, "admin-demo"),
    ("ivanov", "Иван Иванов", "ivanov@example.com", Role.USER, "ivanov-demo"),
    ("petrova", "Мария Петрова", "petrova@example.com", Role.USER, "petrova-demo"),
)


def create_demo_data() -> list[tuple[User, str]]:
    """Create the demo users that do not exist yet; returns them with their passwords."""
    created = []
    for username, full_name, email, role, secret in DEMO_USERS:
        if db.session.scalar(select(User.id).where(User.username == username)):
            continue
        user = User(username=username, full_name=full_name, email=email, role=role.value)
        user.set_password(secret)
        db.session.add(user)
        created.append((user, secret))
    db.session.flush()
    return created
