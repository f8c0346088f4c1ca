"""The demo host's ``flask portal …`` commands: its database, demo data and users.

``portal init-db`` creates or upgrades the whole database (the SMTP module's tables, then the
host's own); ``portal demo`` adds the demo data outside production; ``portal users …`` is what
an operator needs before anyone can log in — in production, the first administrator:
``flask portal users add admin --full-name … --email … --admin``.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TypeVar

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from .demo import DemoRefused, create_demo_data
from .extensions import db
from .models import User
from .schema import upgrade_database
from .user_operations import (
    UserError,
    change_password,
    create_user,
    delete_user,
    generate_password,
    get_user,
    set_active,
)

T = TypeVar("T")
ROLE_NAMES = {"admin": "администратор", "user": "пользователь"}


@click.group("portal")
def portal_cli() -> None:
    """The demo portal: its database, demo data and users."""


@portal_cli.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create or upgrade the database: the SMTP module's tables, then the portal's own."""
    upgrade_database()
    click.echo("База данных готова.")


@portal_cli.command("demo")
@with_appcontext
def demo() -> None:
    """Add the demo users (passwords shown once), mailboxes, deals and the system SMTP
    account on the development mail catcher; refuses in production."""
    try:
        created = create_demo_data()
    except DemoRefused as error:
        raise click.ClickException(str(error)) from None
    db.session.commit()
    if created.empty:
        click.echo("Демо-данные уже созданы.")
        return
    if created.users:
        click.echo("Демо-пользователи (пароли показываются один раз):")
        for user, password in created.users:
            click.echo(f"  {user.username} / {password}  ({ROLE_NAMES[user.role]}, "
                       f"{user.full_name})")
    for mailbox in created.mailboxes:
        click.echo(f"Почтовый ящик {mailbox.email}")
    if created.account is not None:
        click.echo(f"SMTP-аккаунт портала {created.account.email} → "
                   f"{created.account.host}:{created.account.port} (тестовый почтовый ящик)")
    for entity in created.entities:
        click.echo(f"{entity.kind_label}: {entity.title}")


@portal_cli.group("users")
def users_cli() -> None:
    """The portal's users."""


def _password(from_stdin: bool) -> tuple[str, bool]:
    """The password from the first line of stdin, or a generated one; and whether it was
    generated (then the command prints it, once)."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    return generate_password(), True


def _run(action: Callable[[], T]) -> T:
    """Run a user operation and commit; a broken rule ends the command with its Russian
    message and exit code 1."""
    try:
        result = action()
    except UserError as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from None
    db.session.commit()
    return result


@users_cli.command("add")
@click.argument("username")
@click.option("--full-name", required=True, help="The name shown in the portal.")
@click.option("--email", required=True, help="The user's e-mail address.")
@click.option("--admin", is_flag=True, help="An administrator (default: a user).")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of stdin (default: generate one "
              "and print it once).")
@with_appcontext
def users_add(username: str, full_name: str, email: str, admin: bool,
              password_stdin: bool) -> None:
    """Add a user; prints the new id (and a generated password, once)."""
    password, generated = _password(password_stdin)
    user = _run(lambda: create_user(username, full_name, email, password, admin=admin))
    click.echo(f"Пользователь {user.username} добавлен (id {user.id}, "
               f"{ROLE_NAMES[user.role]}).")
    if generated:
        click.echo(f"Пароль (показывается один раз): {password}")


@users_cli.command("passwd")
@click.argument("username")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of stdin (default: generate one "
              "and print it once).")
@with_appcontext
def users_passwd(username: str, password_stdin: bool) -> None:
    """Set a user's password; his sessions end."""
    password, generated = _password(password_stdin)
    _run(lambda: change_password(get_user(username), password))
    click.echo(f"Пароль пользователя {username.strip()} изменён.")
    if generated:
        click.echo(f"Новый пароль (показывается один раз): {password}")


@users_cli.command("deactivate")
@click.argument("username")
@with_appcontext
def users_deactivate(username: str) -> None:
    """Deactivate a user: he cannot log in, his sessions end."""
    _run(lambda: set_active(get_user(username), False))
    click.echo(f"Пользователь {username.strip()} отключён.")


@users_cli.command("activate")
@click.argument("username")
@with_appcontext
def users_activate(username: str) -> None:
    """Let a deactivated user log in again."""
    _run(lambda: set_active(get_user(username), True))
    click.echo(f"Пользователь {username.strip()} включён.")


@users_cli.command("delete")
@click.argument("username")
@with_appcontext
def users_delete(username: str) -> None:
    """Delete a user: the SMTP module removes his mailboxes and CRM senders and fails his
    waiting letters first."""
    _run(lambda: delete_user(get_user(username)))
    click.echo(f"Пользователь {username.strip()} удалён.")


@users_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON list of objects.")
@with_appcontext
def users_list(as_json: bool) -> None:
    """List the users: id, login, name, address, role, active."""
    users = db.session.scalars(select(User).order_by(User.id)).all()
    rows = [{"id": user.id, "username": user.username, "full_name": user.full_name,
             "email": user.email, "role": user.role, "active": user.active} for user in users]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    if not rows:
        click.echo("Пользователей нет.")
    for row in rows:
        state = "" if row["active"] else "  [отключён]"
        click.echo(f"{row['id']:>5}  {row['username']}  {row['full_name']} <{row['email']}>  "
                   f"{ROLE_NAMES.get(row['role'], row['role'])}{state}")
