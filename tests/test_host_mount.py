"""The module in someone else's portal (SPEC §16, issue #11): the README's «Mount in your
portal» host — its own SQLAlchemy, users in ``staff`` with UUID keys, Flask-Login, a
Flask-Limiter of its own, per-form CSRF, its own layout and a JSON API — is pasted into files
exactly as printed, and the module's main flows run in it against the real test servers, on
SQLite or on PostgreSQL as the suite runs. The host's own route, limiter and migrations stay
as they were. And nothing under the module imports the demo host."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, make_url, select, text

from portal_smtp import send_mail, user_removed
from portal_smtp.extensions import Base
from portal_smtp.models import CascadeRecord, CrmSender, Mailbox, OutboxMessage
from portal_smtp.providers_seed import seed_directory
from portal_smtp.schema import VERSION_TABLE, alembic_config
from portal_smtp.services.providers import ProviderInput, save_provider
from portal_smtp.signals import composer_letter_queued
from portal_smtp.smtp.addresses import normalize_address
from portal_smtp.worker import run_workers

from .conftest import TEST_KEY, csrf_token
from .factories import make_account
from .mail_fixtures import ADDRESS, PASSWORD
from .servers import USERS
from .test_admin_accounts import LOGIN, form_data
from .test_mail import modal_data
from .test_outbox import letter

README = Path(__file__).resolve().parents[1] / "README.md"
#: The first line of each file's block in the README names the file.
FILE_LINE = re.compile(r"(?:# |\{# )(\S+\.(?:py|html)) ")
HOST_FILES = {"host.py", "templates/layout.html", "templates/login.html",
              "templates/clients.html", "templates/client.html"}
#: The host's own Alembic history, there before the module arrives.
HOST_REVISION = "c0ffee5eed01"
USER_REMOVED = "Пользователь удалён — письмо не отправлено."
PASSWORDS = {"admin@example.com": "admin-pass-1", "anna@example.com": "anna-pass-1"}


def readme_host() -> dict[str, str]:
    """The files of the README's minimal host: the code blocks of «Mount in your portal»
    whose first line names a file, exactly as printed."""
    readme = README.read_text(encoding="utf-8")
    assert "\n## Mount in your portal\n" in readme, "the README lost «Mount in your portal»"
    section = readme.split("\n## Mount in your portal\n", 1)[1].split("\n## ", 1)[0]
    files = {}
    for block in re.findall(r"^```(?:python|html)\n(.*?)^```", section, re.S | re.M):
        match = FILE_LINE.match(block)
        if match:
            files[match.group(1)] = block
    return files


# --- the host's database, its files and its users -------------------------------------------

@pytest.fixture(scope="module")
def host_database(database_uri, tmp_path_factory):
    """A database of the host's own, of the suite's kind, holding the host's Alembic history
    (``alembic_version``) before the module arrives."""
    if make_url(database_uri).get_backend_name() == "sqlite":
        uri, drop = f"sqlite:///{tmp_path_factory.mktemp('host') / 'host.db'}", None
    else:
        import psycopg

        base = make_url(os.environ["PORTAL_TEST_DATABASE_URI"])
        admin_dsn = base.set(drivername="postgresql").render_as_string(hide_password=False)
        name = f"portal_smtp_host_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        uri = base.set(database=name).render_as_string(hide_password=False)

        def drop() -> None:
            with psycopg.connect(admin_dsn, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    engine = create_engine(uri)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) "
                                "NOT NULL PRIMARY KEY)"))
        connection.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": HOST_REVISION})
    engine.dispose()
    yield uri
    if drop is not None:
        drop()


@pytest.fixture
def host(host_database, tmp_path, monkeypatch, smtp, dovecot):
    """The README's host, pasted into a folder and configured through ``FLASK_*`` variables
    as its steps say; ``flask smtp init-db`` run; every table cleaned afterwards."""
    files = readme_host()
    assert set(files) == HOST_FILES, f"the README's host files changed: {sorted(files)}"
    folder = tmp_path / "portal"
    for path, source in files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(source, encoding="utf-8")
    ports = [*smtp.ports, dovecot.plain_port, dovecot.ssl_port]
    for setting, value in {
        "SECRET_KEY": "host-secret-key", "SMTP_KEYS": TEST_KEY,
        "SQLALCHEMY_DATABASE_URI": host_database, "SMTP_ALLOW_HOSTS": "127.0.0.1,::1",
        "SMTP_ALLOW_PORTS": ",".join(map(str, ports)),
        "SMTP_SYSTEM_FROM": "Портал <noreply@example.com>",
        "PROPAGATE_EXCEPTIONS": "true",  # a failing view fails the test with its traceback
    }.items():
        monkeypatch.setenv(f"FLASK_{setting}", value)
    name = f"host_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, folder / "host.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # Flask finds the host's templates and instance through it
    try:
        spec.loader.exec_module(module)
        app = module.app
        result = app.test_cli_runner().invoke(args=["smtp", "init-db"])
        assert result.exit_code == 0 and "Таблицы модуля готовы." in result.output, \
            result.output
        yield SimpleNamespace(module=module, app=app, db=module.db, folder=folder)
    finally:
        for receiver in list(composer_letter_queued.receivers_for(None)):
            if getattr(receiver, "__module__", "") == name:
                composer_letter_queued.disconnect(receiver)
        sys.modules.pop(name, None)
        if "app" in vars(module):
            _clean(module)


def _clean(module) -> None:
    """Empty the module's tables (the providers directory as a fresh database has it) and
    drop the host's own."""
    with module.app.app_context():
        session = module.db.session
        session.remove()
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())
        seed_directory(session.connection())
        session.commit()
        module.db.drop_all()
        module.db.engine.dispose()


def add_staff(host, email: str, name: str, *, admin: bool = False) -> uuid.UUID:
    """The README's step for the first user: ``flask add-staff``; returns the UUID key."""
    result = host.app.test_cli_runner().invoke(args=[
        "add-staff", email, name, *(["--admin"] if admin else []),
        "--password", PASSWORDS[email]])
    assert result.exit_code == 0, result.output
    with host.app.app_context():
        key = host.db.session.scalar(select(host.module.Staff.id).filter_by(email=email))
    assert isinstance(key, uuid.UUID)
    return key


def log_in(host, email: str):
    """A client logged in through the host's own login form (its own CSRF token)."""
    client = host.app.test_client()
    response = client.post("/login", data={
        "email": email, "password": PASSWORDS[email], "csrf_token": csrf_token(client)})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    return client


@pytest.fixture
def admin(host):
    add_staff(host, "admin@example.com", "Администратор", admin=True)
    return log_in(host, "admin@example.com")


@pytest.fixture
def anna(host):
    """A user of the host, not an administrator: her key and her logged-in client."""
    key = add_staff(host, "anna@example.com", "Анна")
    return SimpleNamespace(key=key, client=log_in(host, "anna@example.com"))


def add_client(host, client, name: str = "ООО Ромашка") -> int:
    """A client of the host's CRM, through the host's own JSON API (no CSRF token)."""
    response = client.post("/api/clients", json={"name": name, "email": "client@example.org"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json["id"]


# --- the module's flows in the host ---------------------------------------------------------

def test_admin_pages_fill_the_hosts_layout_and_check_against_the_server(host, admin, anna,
                                                                         smtp):
    page = admin.get("/admin/smtp/accounts").get_data(as_text=True)
    assert "<title>SMTP-аккаунты — Портал</title>" in page  # the host's title block
    assert re.search(r"<main>.*<h1>Список SMTP-аккаунтов</h1>.*</main>", page, re.S)
    assert '<a href="/">Клиенты</a>' in page  # the host's own navigation around it
    token = csrf_token(admin, "/admin/smtp/accounts/new")
    check = admin.post("/admin/smtp/accounts/check", data=form_data(smtp.starttls, token),
                       headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Данные доступа верны!" in check and "<main>" not in check
    saved = admin.post("/admin/smtp/accounts/new", data=form_data(smtp.starttls, token))
    assert saved.status_code == 302 and saved.headers["Location"] == "/admin/smtp/accounts"
    listing = admin.get("/admin/smtp/accounts").get_data(as_text=True)
    assert LOGIN in listing
    assert re.search(r'<p class="flash flash-\w+">[^<]*Данные доступа верны!', listing)
    # The module checks the CSRF token of its own routes itself: the host has no CSRFProtect.
    assert admin.post("/admin/smtp/accounts/check",
                      data=form_data(smtp.starttls, None)).status_code == 400
    assert anna.client.get("/admin/smtp/accounts").status_code == 403  # the host's predicate
    assert host.app.test_client().get("/mail/").headers["Location"].startswith("/login")


def test_send_mail_is_delivered_by_a_worker(host, anna, smtp):
    with host.app.app_context():
        make_account(LOGIN, "Продажи", host="127.0.0.1", port=smtp.plain.port,
                     security="none", auth="none", login="")
        outbox_id = send_mail(letter(subject="Счёт из портала"), created_by_id=anna.key)
    run_workers(host.app, once=True)
    [received] = smtp.plain.handler.received
    assert received.message["Subject"] == "Счёт из портала"
    with host.app.app_context():
        sent = host.db.session.get(OutboxMessage, outbox_id)
        assert (sent.status, sent.created_by_id) == ("sent", anna.key)
    logs = host.app.test_cli_runner().invoke(args=["smtp", "logs", "--json"])
    assert [row["status"] for row in json.loads(logs.output)] == ["sent"]


def test_mailbox_connects_and_its_sending_modal_works(host, anna, smtp, dovecot):
    dovecot.set_users({ADDRESS: PASSWORD})
    USERS[ADDRESS] = PASSWORD
    try:
        with host.app.app_context():
            provider = save_provider(None, ProviderInput(
                name="Тестовая почта", imap_host="127.0.0.1", imap_port=dovecot.ssl_port,
                imap_security="ssl", smtp_host="127.0.0.1", smtp_port=smtp.starttls.port,
                smtp_security="starttls", domains=["corp.example"]))
            host.db.session.commit()
            provider_id = provider.id
        client = anna.client
        connected = client.post("/mail/connect", data={
            "csrf_token": csrf_token(client, "/mail/connect"), "email": ADDRESS,
            "password": PASSWORD, "provider_id": provider_id})
        assert connected.status_code == 302
        with host.app.app_context():
            box = host.db.session.scalar(select(Mailbox))
            assert box.user_id == anna.key  # the host's UUID, read back as a UUID
            mailbox_id = box.id
        modal = client.get(f"/mail/{mailbox_id}/smtp", headers={"HX-Request": "true"})
        assert "Настройки для исходящих писем" in modal.get_data(as_text=True)
        page = client.get(f"/mail/{mailbox_id}/smtp").get_data(as_text=True)
        assert "<main>" in page and "Настройка SMTP отправки" in page
        token = csrf_token(client, f"/mail/{mailbox_id}/smtp")
        check = client.post(f"/mail/{mailbox_id}/smtp/check", headers={"HX-Request": "true"},
                            data=modal_data(token)).get_data(as_text=True)
        assert "Данные доступа верны!" in check
        saved = client.post(f"/mail/{mailbox_id}/smtp", headers={"HX-Request": "true"},
                            data=modal_data(token))
        assert saved.headers["HX-Trigger"] == "closeModal"
        with host.app.app_context():
            box = host.db.session.get(Mailbox, mailbox_id)
            send_mail(letter(sender=f"Анна <{ADDRESS}>"), sender=box)
        run_workers(host.app, once=True)
        [received] = smtp.starttls.handler.received
        assert received.login == ADDRESS and received.mail_from == ADDRESS
    finally:
        USERS.pop(ADDRESS, None)


def test_composer_on_the_hosts_client_page_with_a_sender_confirmed_by_code(host, anna, smtp):
    with host.app.app_context():
        for address in ("noreply@example.com", "sales@example.com"):
            make_account(address, "Портал", host="127.0.0.1", port=smtp.plain.port,
                         security="none", auth="none", login="")
    client = anna.client
    client_id = add_client(host, client)
    card = client.get(f"/clients/{client_id}").get_data(as_text=True)
    assert f'action="/crm/compose/client/{client_id}"' in card
    assert "Отправителей пока нет" in card
    back = f"/clients/{client_id}"
    token = csrf_token(client, back)
    page = client.post(f"/crm/senders/new?back={back}", follow_redirects=True, data={
        "csrf_token": token, "action": "code", "name": "Продажи",
        "email": "sales@example.com"}).get_data(as_text=True)
    assert "Введите код из письма" in page
    confirmation = re.search(r'name="confirmation" value="(\d+)"', page).group(1)
    run_workers(host.app, once=True)
    [code_letter] = smtp.plain.handler.received
    code = re.search(r"\b(\d{6})\b", code_letter.message.get_body().get_content()).group(1)
    confirmed = client.post(f"/crm/senders/new?back={back}", data={
        "csrf_token": token, "action": "confirm", "email": "sales@example.com",
        "confirmation": confirmation, "code": code})
    assert confirmed.status_code == 302 and confirmed.headers["Location"] == back
    with host.app.app_context():
        sender = host.db.session.scalar(select(CrmSender))
        assert (sender.email, sender.user_id) == ("sales@example.com", anna.key)
    assert f'value="sender:{sender.id}"' in client.get(back).get_data(as_text=True)

    queued = []

    def announced_letter(sender, **data) -> None:
        queued.append({**data, "user": data["user"].id})  # the user is the host's Staff

    composer_letter_queued.connect(announced_letter)
    try:
        sent = client.post(f"/crm/compose/client/{client_id}", data={
            "csrf_token": token, "sender": f"sender:{sender.id}", "to-0": "client@example.org",
            "subject": "Коммерческое предложение", "body": "<p>Здравствуйте!</p>",
            "back": back, "action": "send"})
    finally:
        composer_letter_queued.disconnect(announced_letter)
    assert sent.status_code == 302 and sent.headers["Location"] == back
    [announced] = queued
    assert announced["entity"].kind == "client" and announced["entity"].id == str(client_id)
    assert (announced["user"], announced["subject"]) == (anna.key, "Коммерческое предложение")
    with host.app.app_context():  # the host's receiver put it on its own timeline
        entry = host.db.session.scalar(select(host.module.Letter))
        assert (entry.client_id, entry.outbox_id) == (client_id, announced["outbox_id"])
    assert "Коммерческое предложение: В очереди" in client.get(back).get_data(as_text=True)
    run_workers(host.app, once=True)
    assert smtp.plain.handler.received[-1].message["Subject"] == "Коммерческое предложение"
    assert "Коммерческое предложение: Отправлено" in client.get(back).get_data(as_text=True)
    # An entity the host does not hand over is no entity: 404, nothing queued.
    assert client.post("/crm/compose/client/999", data={"csrf_token": token}).status_code == 404
    assert client.post("/crm/compose/deal/1", data={"csrf_token": token}).status_code == 404


def test_removed_user_takes_mailbox_sender_and_waiting_letters_along(host, admin, anna, smtp):
    with host.app.app_context():
        make_account("sales@example.com", "Продажи")  # no server behind it: the letter waits
        session = host.db.session
        box = Mailbox(user_id=anna.key, email="own@corp.example",
                      email_normalized="own@corp.example", imap_host="127.0.0.1",
                      imap_port=993, imap_security="ssl", imap_login="own@corp.example",
                      imap_password="imap-secret")
        sender = CrmSender(user_id=anna.key, name="", email="crm@corp.example",
                           email_normalized=normalize_address("crm@corp.example"))
        session.add_all([box, sender])
        session.commit()
        kept = box.id, sender.id
        waiting = send_mail(letter(sender="Продажи <sales@example.com>"),
                            created_by_id=anna.key)
        admin_key = session.scalar(select(host.module.Staff.id).filter_by(is_admin=True))
        # The host deletes its user first, then tells the module by key (the other order
        # works as well: there is no foreign key between them).
        session.delete(session.get(host.module.Staff, anna.key))
        session.commit()
        user_removed(anna.key, actor=session.get(host.module.Staff, admin_key))
        assert session.get(Mailbox, kept[0]) is None and session.get(CrmSender, kept[1]) is None
        failed = session.get(OutboxMessage, waiting)
        assert (failed.status, failed.last_error) == ("failed", USER_REMOVED)
        record = session.scalar(select(CascadeRecord).filter_by(action="user_removed"))
        assert record.actor_id == admin_key and str(anna.key) in record.details
    run_workers(host.app, once=True)
    assert smtp.plain.handler.received == []  # never re-routed to another transport
    assert anna.client.get("/mail/").status_code == 302  # her session ends with her user


# --- the host keeps what is its own ---------------------------------------------------------

def test_the_hosts_json_route_limiter_and_migrations_are_untouched(host, anna):
    assert add_client(host, anna.client)  # a JSON POST without a CSRF token: 200
    # The host's own limit on its login form holds: 5 POSTs a minute, the login above the
    # first of them.
    wrong = {"email": "anna@example.com", "password": "неверный"}
    statuses = [host.app.test_client().post("/login", data=wrong).status_code
                for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429]
    with host.app.app_context(), host.db.engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).all() == [
            (HOST_REVISION,)]
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).all() == [
            (head,)]
        if connection.dialect.name == "sqlite":  # no pragma on the host's engine
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "delete"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 0


def test_the_modules_check_limit_holds_in_the_hosts_limiter(host, admin):
    token = csrf_token(admin, "/admin/smtp/accounts/new")
    statuses = [admin.post("/admin/smtp/accounts/check", data={"csrf_token": token}).status_code
                for _ in range(21)]
    assert statuses == [200] * 20 + [429]
    # The host's own limit on its login form still holds beside them (the admin's login
    # was the first of its 5 POSTs a minute).
    statuses = [host.app.test_client().post("/login", data={}).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429]


# --- the package never imports the demo host ------------------------------------------------

#: Run in a fresh interpreter: import every module of the package but the demo host, then
#: mount the module on a bare host and migrate it (which runs the migrations' ``env.py``);
#: prints the modules and the first step after which the demo host was imported, if any.
IMPORT_ALL = """
import importlib, json, os, pkgutil, sys

def walk(path, prefix):
    # pkgutil.walk_packages would import every package to recurse, the demo host included.
    for info in pkgutil.iter_modules(path, prefix):
        if info.name.startswith("portal_smtp.portal") or info.name.endswith("migrations.env"):
            continue  # the demo host; the Alembic environment runs below, under Alembic
        yield info.name
        if info.ispkg:
            yield from walk([os.path.join(path[0], info.name.rpartition(".")[2])],
                            info.name + ".")

def demo_host_imported():
    return any(name.startswith("portal_smtp.portal") for name in sys.modules)

import portal_smtp
culprit = "import portal_smtp" if demo_host_imported() else None
names = sorted(walk(portal_smtp.__path__, "portal_smtp."))
for name in names:
    importlib.import_module(name)
    if culprit is None and demo_host_imported():
        culprit = name

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import Mapped, mapped_column
from portal_smtp.schema import upgrade_schema

app = Flask("bare_host")
app.config.update(SECRET_KEY="bare", SQLALCHEMY_DATABASE_URI="sqlite://", SMTP_KEYS=sys.argv[1])
db = SQLAlchemy(app)

class Person(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)

portal_smtp.PortalSmtp(app, db=db, user_model=Person)
with app.app_context():
    upgrade_schema()
if culprit is None and demo_host_imported():
    culprit = "PortalSmtp(app) and upgrade_schema()"
print(json.dumps({"modules": names, "culprit": culprit}))
"""


def test_nothing_in_the_module_imports_the_demo_host():
    result = subprocess.run([sys.executable, "-c", IMPORT_ALL, TEST_KEY], capture_output=True,
                            text=True, cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {"portal_smtp.cli", "portal_smtp.extension", "portal_smtp.views.crm",
            "portal_smtp.services.cascade", "portal_smtp.migrations.versions"} <= set(
        report["modules"]), report["modules"]
    assert report["culprit"] is None, f"{report['culprit']} imports portal_smtp.portal"
