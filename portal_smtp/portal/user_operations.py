"""What the demo host does with its users: add, change, reset a password, deactivate, delete.

The user administration page and ``flask portal users …`` both call these functions. They
check the rules (a Russian :class:`UserError` when one is broken), change objects and flush;
the request or the command commits. Removing a user tells the SMTP module first
(``portal_smtp.user_removed``), which removes the user's mailboxes and CRM senders and fails
their waiting letters, in the same transaction as the host's own delete.
"""
from __future__ import annotations

import re
import secrets

from flask import current_app
from sqlalchemy import func, select

from .. import user_removed
from .extensions import db
from .models import Role, User

#: Passwords shorter than this are refused (the page and the commands alike).
MIN_PASSWORD_LENGTH = 8
#: Login names: letters (any alphabet), digits and ``. _ @ + -``, as the login form takes them.
USERNAME_PATTERN = re.compile(r"[\w.@+-]{1,64}")
ADDRESS_PATTERN = re.compile(r"[^@\s]+@[^@\s]+")


class UserError(ValueError):
    """A rule about users was broken; the message is a Russian sentence for the person."""


def find_user(username: str) -> User | None:
    """The user with this login name (compared in lower case, as the login form does)."""
    return db.session.scalar(
        select(User).where(func.lower(User.username) == username.strip().lower()))


def get_user(username: str) -> User:
    """The user with this login name, or :class:`UserError`."""
    user = find_user(username)
    if user is None:
        raise UserError(f"Пользователь «{username.strip()}» не найден.")
    return user


def generate_password() -> str:
    """A random password to hand to a person once (16 characters, URL-safe)."""
    return secrets.token_urlsafe(12)


def check_password_rules(password: str) -> None:
    """Refuse an empty or short password (:data:`MIN_PASSWORD_LENGTH`)."""
    if not password or not password.strip():
        raise UserError("Пароль не может быть пустым.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"Пароль должен быть не короче {MIN_PASSWORD_LENGTH} символов.")


def _clean_profile(full_name: str, email: str) -> tuple[str, str]:
    """The name and address, trimmed and checked."""
    full_name, email = (full_name or "").strip(), (email or "").strip()
    if not full_name or len(full_name) > 200:
        raise UserError("Укажите имя пользователя (до 200 символов).")
    if len(email) > 254 or not ADDRESS_PATTERN.fullmatch(email):
        raise UserError("Укажите адрес электронной почты, например ivanov@example.com.")
    return full_name, email


def create_user(username: str, full_name: str, email: str, password: str, *,
                admin: bool = False) -> User:
    """Add an active user with ``password``; flushes (the caller commits).

    :param admin: the administrator role instead of the user one.
    """
    username = (username or "").strip()
    if not USERNAME_PATTERN.fullmatch(username):
        raise UserError("Логин: от 1 до 64 символов — буквы, цифры и знаки . _ @ + -")
    if find_user(username) is not None:
        raise UserError(f"Пользователь «{username}» уже есть.")
    full_name, email = _clean_profile(full_name, email)
    check_password_rules(password)
    user = User(username=username, full_name=full_name, email=email,
                role=(Role.ADMIN if admin else Role.USER).value, active=True)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    current_app.logger.info("User %s (#%s) added", user.username, user.id)
    return user


def update_user(user: User, full_name: str, email: str, role: str, *,
                actor: User | None = None) -> None:
    """Change a user's name, address and role; an administrator keeps his own role."""
    full_name, email = _clean_profile(full_name, email)
    if role not in {r.value for r in Role}:
        raise UserError("Выберите роль: администратор или пользователь.")
    if actor is not None and actor.id == user.id and role != user.role:
        raise UserError("Свою роль администратор изменить не может.")
    user.full_name, user.email, user.role = full_name, email, role
    db.session.flush()


def change_password(user: User, password: str) -> None:
    """Set a new password; the user's sessions opened with the old one end."""
    check_password_rules(password)
    user.set_password(password)
    db.session.flush()
    current_app.logger.info("Password of user %s (#%s) changed", user.username, user.id)


def set_active(user: User, active: bool, *, actor: User | None = None) -> None:
    """Activate or deactivate a user. A deactivated user cannot log in, and every session he
    has ends (his session epoch moves on, so activating him again revives none of them)."""
    if not active and actor is not None and actor.id == user.id:
        raise UserError("Нельзя отключить самого себя.")
    if user.active == active:
        return
    user.active = active
    if not active:
        user.session_epoch = (user.session_epoch or 0) + 1
    db.session.flush()
    current_app.logger.info("User %s (#%s) %s", user.username, user.id,
                            "activated" if active else "deactivated")


def delete_user(user: User, *, actor: User | None = None) -> None:
    """Delete a user: the SMTP module removes what it holds for him first (mailboxes, CRM
    senders; his waiting letters fail), then the host's own row goes — the CRM keeps his
    entities and timeline with no owner or author (ON DELETE SET NULL)."""
    if actor is not None and actor.id == user.id:
        raise UserError("Нельзя удалить самого себя.")
    user_removed(user, actor=actor, commit=False)
    username, user_id = user.username, user.id
    db.session.delete(user)
    db.session.flush()
    current_app.logger.info("User %s (#%s) deleted", username, user_id)
