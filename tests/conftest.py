"""Fixtures: the app built by the real factory on a real database, real SMTP servers on
loopback with certificates made by this run, and helpers to log in and post with CSRF.

The database is SQLite by default; set ``PORTAL_TEST_DATABASE_URI`` to a PostgreSQL URL and
the suite runs on a fresh database created (and dropped) inside that server.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import make_url

from portal_smtp.extensions import db
from portal_smtp.portal import create_app
from portal_smtp.portal.extensions import db as host_db
from portal_smtp.portal.models import Role, User
from portal_smtp.portal.schema import upgrade_database
from portal_smtp.providers_seed import seed_directory

from .certs import make_certificates
from .imap_server import Dovecot
from .servers import (
    AioServer,
    BlackHole,
    DroppingHandler,
    FlakyHandler,
    RejectingHandler,
    ScriptedServer,
    SlowHandler,
    check_login,
    free_port,
    refuse_service,
    server_tls_context,
    trickle,
)

#: Fixtures of the «Почта» tests (a provider on the test servers, a user's mailbox).
pytest_plugins = ["tests.mail_fixtures"]

TEST_KEY = Fernet.generate_key().decode()
PASSWORDS = {"admin": "admin-pass-1", "ivanov": "ivanov-pass-1", "petrova": "petrova-pass-1"}


# --- certificates and SMTP servers -------------------------------------------------------

@pytest.fixture(scope="session")
def certificates(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="session", autouse=True)
def trust_test_ca(certificates):
    """Point the system trust store at the test CA, as SPEC §14 allows (SSL_CERT_FILE)."""
    previous = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = certificates["ca"]
    yield
    if previous is None:
        os.environ.pop("SSL_CERT_FILE", None)
    else:
        os.environ["SSL_CERT_FILE"] = previous


@pytest.fixture(scope="session")
def smtp(certificates):
    """Every test server, started once: ``smtp.plain``, ``smtp.starttls``, ``smtp.ssl`` …"""
    tls = server_tls_context(certificates["server_cert"], certificates["server_key"])
    rogue = server_tls_context(certificates["rogue_cert"], certificates["rogue_key"])
    servers = {
        "plain": AioServer("plain", authenticator=check_login, auth_require_tls=False),
        "starttls": AioServer(
            "starttls", authenticator=check_login, tls_context=tls, require_starttls=True
        ),
        "ssl": AioServer(
            "ssl", authenticator=check_login, ssl_context=tls, auth_require_tls=False
        ),
        "noauth": AioServer("noauth"),
        "rogue": AioServer(
            "rogue", authenticator=check_login, ssl_context=rogue, auth_require_tls=False
        ),
        "cram": AioServer(
            "cram",
            authenticator=check_login,
            auth_require_tls=False,
            auth_exclude_mechanism=["PLAIN", "LOGIN"],
        ),
        "flaky": AioServer("flaky", FlakyHandler()),
        "rejecting": AioServer("rejecting", RejectingHandler()),
        "dropping": AioServer("dropping", DroppingHandler()),
        "slow": AioServer("slow", SlowHandler()),
    }
    raw = {
        "blackhole": BlackHole(),
        "trickle": ScriptedServer(trickle),
        "refusing": ScriptedServer(refuse_service),
    }
    namespace = SimpleNamespace(**{name: server.endpoint for name, server in servers.items()})
    for name, server in raw.items():
        setattr(namespace, name, SimpleNamespace(port=server.port, host="127.0.0.1"))
    namespace.closed = SimpleNamespace(port=free_port(), host="127.0.0.1")
    namespace.ports = [s.port for s in servers.values()] + [s.port for s in raw.values()] + [
        namespace.closed.port
    ]
    yield namespace
    for server in [*servers.values(), *raw.values()]:
        server.stop()


@pytest.fixture(scope="session")
def dovecot(certificates, tmp_path_factory):
    """A real Dovecot IMAP server on loopback (STARTTLS on ``plain_port``, IMAPS on
    ``ssl_port``), users from a file the tests rewrite."""
    # Dovecot's own users must reach the folder: pytest's temporary tree is private (0700).
    folder = Path(tempfile.mkdtemp(prefix="portal-dovecot-"))
    server = Dovecot(folder, certificates["server_cert"], certificates["server_key"])
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(autouse=True)
def _clear_mailboxes(request):
    """Each test starts with empty server mailboxes (only when the servers are in use)."""
    if "smtp" in request.fixturenames:
        servers = request.getfixturevalue("smtp")
        for endpoint in vars(servers).values():
            handler = getattr(endpoint, "handler", None)
            if handler is not None:
                handler.clear()
    yield


# --- database ----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def database_uri(tmp_path_factory):
    """A fresh database for this run, migrated once through the real migrations."""
    base = os.environ.get("PORTAL_TEST_DATABASE_URI")
    if not base:
        uri = f"sqlite:///{tmp_path_factory.mktemp('db') / 'portal.db'}"
        _migrate(uri)
        yield uri
        return
    import psycopg

    url = make_url(base)
    name = f"portal_smtp_test_{uuid.uuid4().hex[:10]}"
    admin_dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    uri = url.set(database=name).render_as_string(hide_password=False)
    try:
        _migrate(uri)
        yield uri
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _migrate(uri: str) -> None:
    app = create_app(_config(uri))
    with app.app_context():
        upgrade_database()  # the module's migrations, then the demo host's own
    dispose(app)


def dispose(app) -> None:
    """Close every pooled connection of an extra app a test built."""
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _config(uri: str, **extra) -> dict:
    return {
        "ENV": "testing",
        "SQLALCHEMY_DATABASE_URI": uri,
        "SECRET_KEY": "test-secret-key",
        "SMTP_KEYS": TEST_KEY,
        "RATELIMIT_STORAGE_URI": "memory://",
        **extra,
    }


@pytest.fixture
def app_config(database_uri, tmp_path):
    """The configuration the ``app`` fixture uses; tests may change it before use."""
    return _config(
        database_uri,
        SMTP_ALLOW_HOSTS="127.0.0.1,::1",
        SMTP_DEVMAIL_DIR=str(tmp_path / "devmail"),
        SMTP_EHLO_HOSTNAME=None,
    )


@pytest.fixture
def app(app_config, request):
    """The portal, built by the real factory, with every table emptied after the test."""
    if "smtp" in request.fixturenames:
        ports = request.getfixturevalue("smtp").ports
        app_config.setdefault("SMTP_ALLOW_PORTS", ",".join(map(str, ports)))
    application = create_app(app_config)
    yield application
    with application.app_context():
        db.session.remove()
        for table in [*reversed(db.metadata.sorted_tables),
                      *reversed(host_db.metadata.sorted_tables)]:
            db.session.execute(table.delete())
        seed_directory(db.session.connection())  # the migration's data, as a fresh database
        db.session.commit()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# --- users and requests ------------------------------------------------------------------

@dataclass
class Account:
    id: int
    username: str
    password: str


@pytest.fixture
def users(app):
    """An administrator and two users with known passwords."""
    created = {}
    with app.app_context():
        for username, role in (("admin", Role.ADMIN), ("ivanov", Role.USER),
                               ("petrova", Role.USER)):
            user = User(username=username, full_name=username.title(),
                        email=f"{username}@example.com", role=role.value)
            user.set_password(PASSWORDS[username])
            db.session.add(user)
            db.session.flush()
            created[username] = Account(user.id, username, PASSWORDS[username])
        db.session.commit()
    return SimpleNamespace(**created)


CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|'
                        r'name="csrf_token" value="([^"]+)"|"X-CSRFToken": "([^"]+)"')


def csrf_token(client, url: str = "/login") -> str:
    """The CSRF token a page of ``url`` carries for this client's session."""
    page = client.get(url).get_data(as_text=True)
    match = CSRF_FIELD.search(page)
    assert match, f"no CSRF token on {url}"
    return next(group for group in match.groups() if group)


def login(client, account: Account):
    """Log ``account`` in through the real login form."""
    token = csrf_token(client, "/login")
    response = client.post(
        "/login",
        data={"username": account.username, "password": account.password, "csrf_token": token},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


# --- the browser -------------------------------------------------------------------------

CHROMIUM = os.environ.get("PORTAL_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "test-artifacts")


@pytest.fixture
def live_server(app):
    """The app served by a real HTTP server on a loopback port, in a background thread."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request):
    """A fresh browser context per test; a screenshot is kept when the test fails."""
    context = browser.new_context(locale="ru-RU", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    # Assertions wait as long as actions: two shared cores can be slow, never wrong.
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)
    tab = context.new_page()
    yield tab
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        os.makedirs(ARTIFACTS, exist_ok=True)
        tab.screenshot(path=os.path.join(ARTIFACTS, f"FAILED-{request.node.name}.png"))
    context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def browser_login(page, base_url: str, account: Account) -> None:
    """Log in through the login form, as a person would."""
    page.goto(f"{base_url}/login")
    page.get_by_label("Логин").fill(account.username)
    page.get_by_label("Пароль").fill(account.password)
    page.get_by_role("button", name="Войти").click()
    page.wait_for_url(f"{base_url}/")


def screenshot(page, name: str) -> str:
    """Keep a screenshot of the current state under test-artifacts/."""
    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, f"{name}.png")
    page.screenshot(path=path, full_page=True)
    return path

