"""The ``flask smtp …`` command group (SPEC §14): names and outputs are a contract."""
from __future__ import annotations

import json
import sys
import threading

import click
from flask import current_app
from flask.cli import with_appcontext

from . import MIGRATIONS_DIR
from .config import setting
from .services.demo import create_demo_data
from .services.secrets import rotate_all_secrets
from .services.verification import verify
from .smtp import AuthType, InvalidSettings, Security, SmtpSettings
from .smtp.addresses import AddressError, validate_address


@click.group("smtp")
def smtp_cli() -> None:
    """Outgoing mail through external SMTP servers."""


@smtp_cli.command("init-db")
@click.option("--demo", is_flag=True, help="Also create demo users and data.")
@with_appcontext
def init_db(demo: bool) -> None:
    """Create or upgrade the tables through the migrations."""
    from flask_migrate import upgrade

    from .extensions import db

    upgrade(directory=MIGRATIONS_DIR)
    click.echo("База данных готова.")
    if demo:
        created = create_demo_data()
        db.session.commit()
        if created:
            click.echo("Демо-пользователи (пароли показываются один раз):")
            for user, password in created:
                role = "администратор" if user.is_admin else "пользователь"
                click.echo(f"  {user.username} / {password}  ({role}, {user.full_name})")
        else:
            click.echo("Демо-данные уже созданы.")


def read_password_stdin(enabled: bool) -> str:
    """The first line of standard input, without its line break ("" when not asked)."""
    if not enabled:
        return ""
    return sys.stdin.readline().rstrip("\r\n")


@smtp_cli.command("check")
@click.option("--host", required=True)
@click.option("--port", type=click.IntRange(1, 65535))
@click.option("--security", type=click.Choice([s.value for s in Security]), default="starttls")
@click.option("--auth", type=click.Choice([a.value for a in AuthType]), default="login")
@click.option("--login", default="")
@click.option("--password-stdin", is_flag=True, help="Read the password (or token) from stdin.")
@click.option("--timeout", type=click.FloatRange(1, 120), default=None, help="Seconds.")
@click.option("--send-to", "send_to", default=None, help="Send a real test letter here.")
@click.option("--from", "sender", default=None, help="Envelope sender to prove.")
@click.option("--insecure", is_flag=True, help="Do not verify the TLS certificate.")
@with_appcontext
def check_command(host, port, security, auth, login, password_stdin, timeout, send_to, sender,
                  insecure) -> None:
    """Verify SMTP settings; prints one line of JSON, exits 0 when they work."""
    password = read_password_stdin(password_stdin)
    try:
        settings = SmtpSettings(
            host=host,
            port=port,
            security=security,
            auth=auth,
            login=login,
            password=password,
            timeout=timeout or float(setting("SMTP_DEFAULT_TIMEOUT")),
            verify_tls=not insecure,
        )
        sender = sender or _default_sender(login, settings)
        validate_address(sender)
        if send_to:
            validate_address(send_to)
    except (InvalidSettings, AddressError) as error:
        click.echo(json.dumps({"ok": False, "code": "invalid", "message": str(error)},
                              ensure_ascii=False))
        sys.exit(1)
    result = verify(settings, sender=sender, recipient=send_to, send_test_letter=bool(send_to),
                    label=f"smtp check {settings.host}")
    click.echo(json.dumps(result.as_json(), ensure_ascii=False))
    sys.exit(0 if result.ok else 1)


def _default_sender(login: str, settings: SmtpSettings) -> str:
    """Without --from, prove the login (when it is an address) or postmaster@host."""
    if "@" in login:
        return login
    host = settings.ascii_host
    return f"postmaster@[{host}]" if host.replace(".", "").isdigit() or ":" in host else (
        f"postmaster@{host}"
    )


@smtp_cli.command("rotate-keys")
@with_appcontext
def rotate_keys() -> None:
    """Re-encrypt every stored secret under the newest key of PORTAL_SMTP_KEYS."""
    from .extensions import db

    count = rotate_all_secrets()
    db.session.commit()
    click.echo(f"Перешифровано секретов: {count}.")


@smtp_cli.command("devmail")
@with_appcontext
def devmail() -> None:
    """Run the development mail catcher («Тестовый почтовый ящик») until interrupted."""
    if current_app.config["ENV"] == "production":
        raise click.ClickException("Тестовый почтовый ящик недоступен в рабочей установке.")
    try:
        from .devmail import start_catcher
    except ImportError as error:  # pragma: no cover - aiosmtpd is in the dev extra
        raise click.ClickException("Установите aiosmtpd (pip install -e .[dev])") from error
    host, port = setting("SMTP_DEVMAIL_HOST"), int(setting("SMTP_DEVMAIL_PORT"))
    controller = start_catcher(host, port, setting("SMTP_DEVMAIL_DIR"))
    click.echo(f"Тестовый почтовый ящик принимает письма на {host}:{port}")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()
