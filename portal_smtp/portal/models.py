"""The demo host's own data: users with one of two roles, and a small CRM.

The SMTP module knows none of these tables: it keeps users' keys without a foreign key, and
the composer refers to CRM entities by (kind, id, title) the host hands it (SPEC §16).
"""
from __future__ import annotations

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from ..timeutil import utcnow
from .extensions import db


class Role(enum.StrEnum):
    """What a user may do: administrators keep the module, users send their own mail."""

    ADMIN = "admin"
    USER = "user"


class User(UserMixin, db.Model):
    """A portal user."""

    __tablename__ = "portal_user"
    # Letters and logs refer to users by id: SQLite must never hand an id out twice.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Login name, unique, compared in lower case.
    username: Mapped[str] = mapped_column(String(64), unique=True)
    #: Name shown in the portal and used as the default sender name.
    full_name: Mapped[str] = mapped_column(String(200))
    #: The user's own e-mail address.
    email: Mapped[str] = mapped_column(String(254))
    #: ``admin`` or ``user``.
    role: Mapped[str] = mapped_column(String(16), default=Role.USER.value)
    #: werkzeug password hash; never the password.
    password_hash: Mapped[str] = mapped_column(String(256))
    #: Inactive users cannot log in.
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Bumped by logout (and password changes): sessions issued before no longer load.
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")

    @property
    def is_admin(self) -> bool:
        """True for administrators."""
        return self.role == Role.ADMIN.value

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    def get_id(self) -> str:  # Flask-Login
        """The session's user id, ``"<id>:<epoch>"``: a logout or a password change moves
        the epoch on, and sessions carrying the old one no longer load."""
        return f"{self.id}:{self.session_epoch or 0}"

    def set_password(self, password: str) -> None:
        """Store a hash of ``password``; sessions opened with the old one end."""
        self.password_hash = generate_password_hash(password)
        self.session_epoch = (self.session_epoch or 0) + 1

    def check_password(self, password: str) -> bool:
        """True when ``password`` matches the stored hash."""
        return check_password_hash(self.password_hash, password)

    def __repr__(self) -> str:
        return f"<User {self.username}>"


ENTITY_KINDS = {"deal": "Сделка", "lead": "Лид", "contact": "Контакт", "company": "Компания"}


class CrmEntity(db.Model):
    """A deal, lead, contact or company."""

    __tablename__ = "portal_crm_entity"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: deal, lead, contact or company.
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(300))
    #: The client's address, offered in «Кому».
    email: Mapped[str] = mapped_column(String(254), default="")
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("portal_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    activities: Mapped[list[CrmActivity]] = relationship(
        back_populates="entity", cascade="all, delete-orphan",
        order_by="CrmActivity.id.desc()")

    @property
    def kind_label(self) -> str:
        return ENTITY_KINDS.get(self.kind, self.kind)


class CrmActivity(db.Model):
    """An entry of an entity's timeline: here, an e-mail sent from the composer."""

    __tablename__ = "portal_crm_activity"

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_id: Mapped[int] = mapped_column(
        ForeignKey("portal_crm_entity.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="email")
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("portal_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    subject: Mapped[str] = mapped_column(String(1000), default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    #: The letter in the module's outbox, whose status the timeline shows (no foreign key:
    #: the module deletes old letters by its own retention).
    outbox_id: Mapped[int | None]

    entity: Mapped[CrmEntity] = relationship(back_populates="activities")
