"""A database that cannot take a write answers with a Russian 503, never a 500 (issue #10,
item 8); the CLI says the same in one line and exits 1.

The tests run as root, so file permissions prove nothing: storage failures are made by the
database itself — SQLite's ``PRAGMA max_page_count`` (disk full), ``PRAGMA query_only`` and a
``mode=ro`` URI (read-only), PostgreSQL's ``default_transaction_read_only`` — on a second app
over the test database, while the ``app`` fixture's own engine stays writable for cleaning up.
"""
from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable

import pytest
from sqlalchemy import event, make_url, select

from portal_smtp.extensions import db
from portal_smtp.models import MailProvider, OutboxMessage
from portal_smtp.portal import create_app
from portal_smtp.portal.models import CrmEntity

from .conftest import csrf_token, dispose, login
from .factories import make_account

READ_ONLY = "База данных недоступна для записи"
DISK_FULL = "На диске базы данных закончилось место"


def _sqlite_path(uri: str) -> str:
    return make_url(uri).database


def _on_connect(statements: Callable[[sqlite3.Connection], list[str]]):
    """A ``connect`` listener that runs ``statements(dbapi_connection)`` on each connection."""
    def listener(dbapi_connection, record) -> None:
        cursor = dbapi_connection.cursor()
        for statement in statements(dbapi_connection):
            cursor.execute(statement)
        cursor.close()
        if not _is_sqlite_connection(dbapi_connection):
            dbapi_connection.commit()  # a SET inside a rolled-back transaction would not stay
    return listener


def _is_sqlite_connection(connection) -> bool:
    return isinstance(connection, sqlite3.Connection)


def _read_only(connection) -> list[str]:
    if _is_sqlite_connection(connection):
        return ["PRAGMA query_only = ON"]
    return ["SET default_transaction_read_only = on"]


def _disk_full(connection) -> list[str]:
    # the file may not grow by a single page (the test compacted it first)
    pages = connection.execute("PRAGMA page_count").fetchone()[0]
    return [f"PRAGMA max_page_count = {pages}"]


@pytest.fixture
def broken_app(app, app_config, users):
    """Build a second app over the test database whose connections cannot write, logged in
    through a client of its own before the failure is switched on."""
    built = []

    def build(statements, uri: str | None = None):
        config = dict(app_config)
        if uri is not None:
            config["SQLALCHEMY_DATABASE_URI"] = uri
        broken = create_app(config)
        built.append(broken)
        clients = {}
        for name in ("admin", "ivanov"):
            clients[name] = broken.test_client()
            login(clients[name], getattr(users, name))
            clients[name].token = csrf_token(clients[name], "/")
        with broken.app_context():
            if statements is not None:
                event.listen(db.engine, "connect", _on_connect(statements))
            db.engine.dispose()  # the connections opened so far were still writable
        return broken, clients

    yield build
    for broken in built:
        dispose(broken)


def _compact(database_uri: str) -> None:
    """VACUUM the SQLite test database, so no free page is left to absorb a write."""
    with sqlite3.connect(_sqlite_path(database_uri)) as connection:
        connection.execute("VACUUM")


def _provider_form(token: str) -> dict[str, str]:
    # 400 domains: more rows than the pages a compacted file has room for
    domains = "\n".join(f"domain-{index:04d}.corp.example" for index in range(400))
    return {"name": "Почта компании", "active": "y", "imap_host": "imap.corp.example",
            "imap_port": "993", "imap_security": "ssl", "smtp_host": "smtp.corp.example",
            "smtp_port": "465", "smtp_security": "ssl", "login_format": "email",
            "auth_method": "basic", "domains": domains, "csrf_token": token}


def _assert_503(response, text: str) -> str:
    page = response.get_data(as_text=True)
    assert response.status_code == 503, page[:500]
    assert text in page
    assert "Traceback" not in page and "sqlite3" not in page and "psycopg" not in page
    assert "INSERT" not in page
    return page


def _nothing_saved(app) -> None:
    with app.app_context():
        assert db.session.scalar(select(CrmEntity)) is None
        assert db.session.scalar(select(MailProvider).where(
            MailProvider.name == "Почта компании")) is None


#: The failure modes this run's database has: read-only everywhere; a read-only file and a
#: full disk are SQLite's (the PostgreSQL run has its own read-only transaction mode).
FAILURES = ["read-only"] + ([] if os.environ.get("PORTAL_TEST_DATABASE_URI")
                           else ["sqlite-mode-ro", "sqlite-disk-full"])


@pytest.fixture(params=FAILURES)
def failure(request, database_uri):
    """(connect statements, URI to use, expected sentence) of one storage failure."""
    if request.param == "read-only":
        return _read_only, None, READ_ONLY
    if request.param == "sqlite-mode-ro":
        path = _sqlite_path(database_uri)
        return None, f"sqlite:///file:{path}?mode=ro&uri=true", READ_ONLY
    _compact(database_uri)
    return _disk_full, None, DISK_FULL


def test_writes_answer_503_with_a_russian_page(app, broken_app, failure):
    statements, uri, text = failure
    _, clients = broken_app(statements, uri)
    admin, ivanov = clients["admin"], clients["ivanov"]
    assert ivanov.get("/crm/").status_code == 200  # reading still works
    response = admin.post("/admin/smtp/providers/new", data=_provider_form(admin.token))
    page = _assert_503(response, text)
    assert "<html" in page  # the whole page, with the portal's layout
    assert response.headers["Retry-After"] == "60"
    if text == READ_ONLY:  # one small row may still fit a page of a full disk
        # The demo host's own CRM answers with the host's own page for the same state.
        response = ivanov.post("/crm/", data={"kind": "deal", "title": "Поставка",
                                              "email": "client@example.org",
                                              "csrf_token": ivanov.token})
        _assert_503(response, "Ничего не сохранено")
    _nothing_saved(app)


def test_htmx_write_gets_the_error_fragment(app, broken_app, failure):
    statements, uri, text = failure
    _, clients = broken_app(statements, uri)
    admin = clients["admin"]
    response = admin.post("/admin/smtp/providers/new", data=_provider_form(admin.token),
                          headers={"HX-Request": "true"})
    page = _assert_503(response, text)
    assert "<html" not in page and 'class="card error-page"' in page


def test_cli_send_reports_the_storage_failure_and_exits_1(app, broken_app, failure):
    statements, uri, text = failure
    with app.app_context():
        make_account("sales@example.com", "Продажи")
    broken, _ = broken_app(statements, uri)
    result = broken.test_cli_runner().invoke(args=[
        "smtp", "send", "--from", "sales@example.com", "--to", "anna@client.example",
        "--subject", "Счёт", "--body", "Текст письма " * 2000])
    assert result.exit_code == 1, result.output
    assert text in result.output
    assert "Traceback" not in result.output
    with app.app_context():
        assert db.session.scalar(select(OutboxMessage)) is None


def test_logout_on_a_read_only_database_is_not_a_500(app, broken_app):
    _, clients = broken_app(_read_only)
    ivanov = clients["ivanov"]
    response = ivanov.post("/logout", data={"csrf_token": ivanov.token})
    assert response.status_code in (302, 503)
    assert "Traceback" not in response.get_data(as_text=True)
