"""The ``flask smtp …`` command group (SPEC §14): names and outputs are a contract."""
from __future__ import annotations

import ipaddress
import json
import sys
import threading
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import click
from flask import current_app
from flask.cli import with_appcontext

from .config import development, display_zone, setting
from .models import OutboxStatus
from .services.module_settings import get_module_settings
from .services.secrets import rotate_all_secrets
from .services.storage import MAX_ID
from .services.verification import verify
from .smtp import AuthType, InvalidSettings, Security, SmtpSettings
from .smtp.addresses import AddressError, unsafe_header_text, validate_address
from .smtp.settings import host_port


class SmtpGroup(click.Group):
    """The ``smtp`` group: a database that cannot take a command's writes (full disk,
    read-only, gone) ends the command with one clear sentence and exit code 1."""

    def invoke(self, ctx: click.Context):
        from sqlalchemy.exc import InternalError, OperationalError

        from .services.storage import storage_problem

        try:
            return super().invoke(ctx)
        except (OperationalError, InternalError) as error:
            problem = storage_problem(error)
            if problem is None:
                raise
            raise click.ClickException(problem) from None


@click.group("smtp", cls=SmtpGroup)
def smtp_cli() -> None:
    """Outgoing mail through external SMTP servers."""


@smtp_cli.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create or upgrade the module's tables through its own migrations (run it on every
    upgrade). Demo data is the demo host's: ``flask portal demo``."""
    from .schema import upgrade_schema

    upgrade_schema()
    click.echo("Таблицы модуля готовы.")


def server_options(timeout_type: click.ParamType):
    """The server options ``check`` and ``accounts add`` share, with the same defaults as the
    forms: SSL/TLS (so port 465), login and password, the certificate verified."""
    options = [
        click.option("--host", required=True, help="Server name or IP address."),
        click.option("--port", type=click.IntRange(1, 65535), default=None,
                     help="Port (default by security: ssl 465, starttls 587, none 25)."),
        click.option("--security", type=click.Choice([s.value for s in Security]),
                     default=Security.SSL.value, show_default=True, help="«Защита соединения»."),
        click.option("--auth", type=click.Choice([a.value for a in AuthType]),
                     default=AuthType.LOGIN.value, show_default=True,
                     help="«Тип авторизации»."),
        click.option("--login", default="", help="Login (or the address, for xoauth2)."),
        click.option("--password-stdin", is_flag=True,
                     help="Read the password (or the access token) from stdin."),
        click.option("--timeout", type=timeout_type, default=None,
                     help="Seconds for each step (default: «Настройки», 10)."),
        click.option("--insecure", is_flag=True, help="Do not verify the TLS certificate."),
    ]

    def decorate(function):
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def shown_time(moment: datetime | None) -> str | None:
    """A stored time (naive UTC) as the pages show it: in the portal's zone, with its offset
    (ISO 8601, ``2026-11-24T16:42:00+03:00``)."""
    if moment is None:
        return None
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(ZoneInfo(display_zone())).isoformat(timespec="seconds")


def read_password_stdin(enabled: bool) -> str:
    """The first line of standard input, without its line break ("" when not asked)."""
    if not enabled:
        return ""
    return sys.stdin.readline().rstrip("\r\n")


@smtp_cli.command("check")
@server_options(click.FloatRange(1, 120))
@click.option("--send-to", "send_to", default=None, help="Send a real test letter here.")
@click.option("--from", "sender", default=None,
              help="Envelope sender to prove (default: the login when it is an address, "
              "else postmaster@HOST).")
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
            timeout=timeout or float(get_module_settings().default_timeout),
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
    """Without --from, prove the login (when it is an address) or postmaster@host.

    An IP host becomes an RFC 5321 address literal: ``postmaster@[192.0.2.1]``,
    ``postmaster@[IPv6:::1]`` (a bare ``[::1]`` is not a valid domain).
    """
    if "@" in login:
        return login
    host = settings.ascii_host
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return f"postmaster@{host}"
    if ip.version == 4:
        return f"postmaster@[{ip}]"
    # int() drops a zone (``%eth0``), which has no place in an address literal.
    return f"postmaster@[IPv6:{ipaddress.IPv6Address(int(ip))}]"


@smtp_cli.command("rotate-keys")
@with_appcontext
def rotate_keys() -> None:
    """Re-encrypt every stored secret under the newest key of PORTAL_SMTP_KEYS.

    With a key that does not decrypt every secret it stops and changes nothing. In
    development it also writes the keys into the instance file, so that a start without
    PORTAL_SMTP_KEYS reads the secrets it just re-encrypted.
    """
    from .crypto import WRONG_KEY_MESSAGE, WRONG_KEY_MESSAGE_EN, save_development_keys
    from .extensions import db
    from .services.secrets import UnreadableSecrets

    try:
        count = rotate_all_secrets()
    except UnreadableSecrets as error:
        db.session.rollback()
        raise click.ClickException(
            f"{WRONG_KEY_MESSAGE} Не расшифровано секретов: {error.count}; ничего не изменено.\n"
            f"{WRONG_KEY_MESSAGE_EN} {error.count} secrets could not be decrypted; nothing "
            "was changed.") from None
    # The file first: it keeps the old keys too, so either state of the database reads.
    saved = save_development_keys(current_app)
    db.session.commit()
    click.echo(f"Перешифровано секретов: {count}.")
    if saved is not None:
        click.echo(f"Ключи записаны в {saved}: запуск без PORTAL_SMTP_KEYS расшифрует их. "
                   f"Keys saved to {saved} for starts without PORTAL_SMTP_KEYS.")


@smtp_cli.command("devmail")
@with_appcontext
def devmail() -> None:
    """Run the development mail catcher («Тестовый почтовый ящик») until interrupted."""
    if not development(current_app):
        raise click.ClickException("Тестовый почтовый ящик работает только в режиме разработки "
                                   "(SMTP_DEVELOPMENT).")
    try:
        from .devmail import start_catcher
    except ImportError as error:  # pragma: no cover - aiosmtpd is in the dev extra
        raise click.ClickException("Установите aiosmtpd (pip install -e .[dev])") from error
    host, port = setting("SMTP_DEVMAIL_HOST"), int(setting("SMTP_DEVMAIL_PORT"))
    controller = start_catcher(host, port, setting("SMTP_DEVMAIL_DIR"))
    click.echo(f"Тестовый почтовый ящик принимает письма на {host_port(host, port)}")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


@smtp_cli.group("accounts")
def accounts_cli() -> None:
    """Administrators' SMTP accounts."""


#: A sending limit as the forms take it: 1 … 1,000,000 recipients.
LIMIT = click.IntRange(1, 1_000_000)
#: «Лимиты отправки» of an account, as ``accounts list --json`` shows them (None: no limit).
LIMIT_COLUMNS = ("limit_minute", "limit_hour", "limit_day", "limit_letter")


@accounts_cli.command("add")
@click.option("--name", default="", help="«Имя отправителя».")
@click.option("--email", required=True, help="«Email отправителя».")
@server_options(click.IntRange(1, 120))
@click.option("--mailing-first", is_flag=True, help="«Искать в первую очередь для рассылок».")
@click.option("--inactive", is_flag=True, help="Save the account switched off.")
@click.option("--limit-minute", type=LIMIT, help="Recipients per minute (SPEC §17).")
@click.option("--limit-hour", type=LIMIT, help="Recipients per hour.")
@click.option("--limit-day", type=LIMIT, help="Recipients per day.")
@click.option("--limit-letter", type=LIMIT, help="Recipients per SMTP transaction.")
@with_appcontext
def accounts_add(name, email, host, port, security, auth, login, password_stdin, mailing_first,
                 inactive, timeout, insecure, limit_minute, limit_hour, limit_day,
                 limit_letter) -> None:
    """Verify (SPEC §3) then save an account; prints its id."""
    from .extensions import db
    from .services.accounts import AccountInput, check_input, save_account

    if unsafe_header_text(name) or len(name) > 200:
        raise click.ClickException("«Имя отправителя» — одна строка до 200 символов, без "
                                   "переводов строк и управляющих символов.")
    data = AccountInput(
        email=email, host=host, port=port, security=security, auth=auth, sender_name=name,
        login=login, password=read_password_stdin(password_stdin), active=not inactive,
        mailing_first=mailing_first, verify_tls=not insecure, timeout=timeout,
        limits={"limit_minute": limit_minute, "limit_hour": limit_hour, "limit_day": limit_day,
                "limit_letter": limit_letter},
    )
    try:
        validate_address(email)
        result = check_input(data)
    except (InvalidSettings, AddressError) as error:
        raise click.ClickException(str(error)) from None
    if not result.ok:
        click.echo(result.message, err=True)
        sys.exit(1)
    account = save_account(None, data, result)
    db.session.commit()
    click.echo(account.id)


@accounts_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_appcontext
def accounts_list(as_json: bool) -> None:
    """List accounts (never a password); passwords no key decrypts are named on stderr."""
    from sqlalchemy import select

    from .crypto import UNREADABLE_LABEL, WRONG_KEY_MESSAGE, WRONG_KEY_MESSAGE_EN, is_unreadable
    from .extensions import db
    from .models import SmtpAccount

    accounts = db.session.scalars(select(SmtpAccount).order_by(SmtpAccount.id)).all()
    rows = [
        {"id": a.id, "active": a.active, "name": a.sender_name, "email": a.email,
         "host": a.host, "port": a.port, "security": a.security, "auth": a.auth,
         "mailing_first": a.mailing_first, "last_check_at": shown_time(a.last_check_at),
         "last_check_ok": a.last_check_ok,
         **{name: getattr(a, name) for name in LIMIT_COLUMNS}}
        for a in accounts
    ]
    unreadable = {a.id for a in accounts if is_unreadable(a.password)}
    if unreadable:  # stderr: the JSON on stdout keeps its contract
        click.echo(f"{WRONG_KEY_MESSAGE}\n{WRONG_KEY_MESSAGE_EN}\nSMTP-аккаунты: "
                   + ", ".join(f"#{i}" for i in sorted(unreadable)), err=True)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    for row in rows:
        flags = ("активен" if row["active"] else "выключен") + (
            ", рассылки" if row["mailing_first"] else "") + (
            f", пароль: {UNREADABLE_LABEL}" if row["id"] in unreadable else "") + (
            _last_check_text(row))
        click.echo(f"{row['id']:>6}  {row['name'] or '-'} <{row['email']}>  "
                   f"{row['host']}:{row['port']} {row['security']}/{row['auth']}  ({flags})")


def _last_check_text(row: dict) -> str:
    """«, проверен 2026-11-24 16:42:00+03:00: успешно» for a row of ``accounts list``."""
    if row["last_check_at"] is None:
        return ", не проверялся"
    shown = row["last_check_at"].replace("T", " ")
    return f", проверен {shown}: {'успешно' if row['last_check_ok'] else 'ошибка'}"


def _get_or_exit(model, object_id: int, what: str):
    """The object with this id, or a Russian error and exit 1."""
    from .extensions import db

    found = db.session.get(model, object_id)
    if found is None:
        raise click.ClickException(f"{what} {object_id} не найден.")
    return found


def _account_or_exit(account_id: int):
    from .models import SmtpAccount

    return _get_or_exit(SmtpAccount, account_id, "SMTP-аккаунт")


@accounts_cli.command("delete")
@click.argument("account_id", type=click.IntRange(1, MAX_ID))
@with_appcontext
def accounts_delete(account_id: int) -> None:
    """Delete an account."""
    from sqlalchemy import select

    from .extensions import db
    from .models import SmtpAccount
    from .services.accounts import delete_accounts

    _account_or_exit(account_id)
    delete_accounts(select(SmtpAccount.id).where(SmtpAccount.id == account_id))
    db.session.commit()
    click.echo(f"SMTP-аккаунт {account_id} удалён.")


def _set_active(account_id: int, active: bool) -> None:
    from sqlalchemy import select

    from .extensions import db
    from .models import SmtpAccount
    from .services.accounts import set_active

    _account_or_exit(account_id)
    set_active(select(SmtpAccount.id).where(SmtpAccount.id == account_id), active)
    db.session.commit()
    click.echo(f"SMTP-аккаунт {account_id} {'активирован' if active else 'деактивирован'}.")


@accounts_cli.command("activate")
@click.argument("account_id", type=click.IntRange(1, MAX_ID))
@with_appcontext
def accounts_activate(account_id: int) -> None:
    """Switch an account on."""
    _set_active(account_id, True)


@accounts_cli.command("deactivate")
@click.argument("account_id", type=click.IntRange(1, MAX_ID))
@with_appcontext
def accounts_deactivate(account_id: int) -> None:
    """Switch an account off (the resolver ignores it)."""
    _set_active(account_id, False)


@smtp_cli.command("resolve")
@click.argument("from_header")
@click.option("--mailing", is_flag=True, help="The letter belongs to a mass mailing.")
@with_appcontext
def resolve_command(from_header: str, mailing: bool) -> None:
    """Print the id of the account that sends a letter with this From header."""
    from .services.resolver import resolve

    account = resolve(from_header, mailing=mailing)
    if account is None:
        click.echo(f"Не найден SMTP-аккаунт для отправителя {from_header}", err=True)
        sys.exit(1)
    click.echo(account.id)


def read_body_file(path: str) -> str:
    """The text of ``--body-file`` (``-``: stdin), decoded as UTF-8 (a byte order mark is
    dropped); a missing, unreadable or non-UTF-8 file is a Russian error with exit code 1."""
    try:
        if path == "-":
            data = click.get_binary_stream("stdin").read()
        else:
            with open(path, "rb") as handle:
                data = handle.read()
    except FileNotFoundError:
        raise click.ClickException(f"Файл с текстом письма не найден: {path}") from None
    except OSError as error:
        raise click.ClickException(
            f"Не удалось прочитать файл с текстом письма {path}: {error.strerror}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise click.ClickException(
            f"Файл с текстом письма {path} не в кодировке UTF-8 (неверный байт на позиции "
            f"{error.start + 1}). Сохраните файл в UTF-8 и повторите.") from None


@smtp_cli.command("send")
@click.option("--from", "sender", required=True, help="The From header.")
@click.option("--to", "recipients", multiple=True, required=True, help="A recipient (repeat).")
@click.option("--subject", required=True)
@click.option("--body", default=None, help="Plain-text body.")
@click.option("--body-file", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="A UTF-8 text file with the body («-» reads stdin).")
@click.option("--mailing", is_flag=True, help="The letter belongs to a mass mailing.")
@with_appcontext
def send_command(sender, recipients, subject, body, body_file, mailing) -> None:
    """Queue a letter in the outbox; prints its id."""
    from email.message import EmailMessage

    from .services.letters import HEADER_ERRORS, HEADER_REFUSED
    from .services.outbox import SendRefused, send_mail

    if (body is None) == (body_file is None):
        raise click.UsageError("Укажите ровно одно из --body и --body-file.")
    letter = EmailMessage()
    try:
        letter["From"] = sender
        letter["To"] = ", ".join(recipients)
        letter["Subject"] = subject
    except HEADER_ERRORS:  # email refuses line breaks in a header value, in English
        raise click.ClickException(HEADER_REFUSED) from None
    letter.set_content(body if body is not None else read_body_file(body_file))
    try:
        letter_id = send_mail(letter, mailing=mailing)
    except SendRefused as error:
        raise click.ClickException(str(error)) from None
    click.echo(letter_id)


@smtp_cli.command("worker")
@click.option("--once", is_flag=True, help="Return when nothing is due.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=1, help="Worker threads.")
@with_appcontext
def worker_command(once: bool, concurrency: int) -> None:
    """Send what the outbox holds; stops gracefully on SIGTERM or Ctrl+C."""
    import signal

    from .worker import run_workers

    stop = threading.Event()

    def request_stop(signum, frame) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM,
                                                                   signal.SIGINT)}
    if not once:
        click.echo(f"Отправка писем из очереди запущена (потоков: {concurrency}). "
                   "Остановить: Ctrl+C или SIGTERM.")
    try:
        processed = run_workers(current_app._get_current_object(), concurrency, once, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo(f"Обработано писем: {processed}.")


@smtp_cli.command("logs")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--status", type=click.Choice([status.value for status in OutboxStatus]))
@click.option("--limit", type=click.IntRange(1, 100000), default=1000, show_default=True,
              help="How many of the newest letters to print.")
@with_appcontext
def logs_command(as_json: bool, status: str | None, limit: int) -> None:
    """Letters of the outbox with their latest state, newest first."""
    from .services.send_logs import letters_for_cli

    rows = letters_for_cli(status, limit)
    for row in rows:  # stored in UTC, shown as the pages show them
        row["created_at"] = shown_time(row["created_at"])
        row["sent_at"] = shown_time(row["sent_at"])
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    for row in rows:
        created = row["created_at"].replace("T", " ")
        click.echo(f"{row['id']:>7} {created} {row['status']:<9} {row['from']} → "
                   f"{', '.join(row['to'])} "
                   f"«{row['subject']}» попыток: {row['attempts']}"
                   + (f" — {row['error']}" if row["error"] else ""))


@smtp_cli.group("mailboxes")
def mailboxes_cli() -> None:
    """Users' mailboxes (the same cascade as the «Почта» pages)."""


def _mailbox_or_exit(mailbox_id: int):
    from .models import Mailbox

    return _get_or_exit(Mailbox, mailbox_id, "Ящик")


@mailboxes_cli.command("delete")
@click.argument("mailbox_id", type=click.IntRange(1, MAX_ID))
@with_appcontext
def mailboxes_delete(mailbox_id: int) -> None:
    """Delete a mailbox with its sending settings and the owner's CRM sender of its address."""
    from .extensions import db
    from .services.cascade import delete_mailbox

    mailbox = _mailbox_or_exit(mailbox_id)
    email = mailbox.email
    delete_mailbox(mailbox, None)
    db.session.commit()
    click.echo(f"Ящик {email} удалён вместе с настройками отправки.")


@mailboxes_cli.command("disable-sending")
@click.argument("mailbox_id", type=click.IntRange(1, MAX_ID))
@with_appcontext
def mailboxes_disable(mailbox_id: int) -> None:
    """Switch a mailbox's external SMTP off (its CRM SMTP sender goes too)."""
    from .extensions import db
    from .services.cascade import disable_mailbox_sending

    mailbox = _mailbox_or_exit(mailbox_id)
    changed = disable_mailbox_sending(mailbox, None)
    db.session.commit()
    click.echo(f"Отправка ящика {mailbox.email} отключена." if changed else
               f"У ящика {mailbox.email} отправка не была настроена.")
