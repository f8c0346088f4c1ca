"""The demo host's ``flask portal …`` commands and its own migration history (SPEC §14, §16):
``init-db`` (the module's tables, then the host's — an old database keeps its users),
``demo`` (never in production), and ``users add / passwd / deactivate / list / delete``."""
from __future__ import annotations

import json
import os
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, make_url, select
from werkzeug.security import generate_password_hash

from portal_smtp.extensions import db
from portal_smtp.models import Mailbox, SmtpAccount
from portal_smtp.portal import create_app
from portal_smtp.portal.extensions import db as host_db
from portal_smtp.portal.models import CrmEntity, User
from portal_smtp.portal.schema import include_name
from portal_smtp.schema import upgrade_schema

from .conftest import Account, _config, csrf_token, dispose, login
from .test_portal_users import assert_cascaded, module_data

NOW = "2026-11-01 10:00:00"


@pytest.fixture
def empty_database(tmp_path):
    """An empty database of the kind the suite runs on: a SQLite file, or a new database in
    the PostgreSQL server of ``PORTAL_TEST_DATABASE_URI`` (dropped afterwards)."""
    base = os.environ.get("PORTAL_TEST_DATABASE_URI")
    if not base:
        yield f"sqlite:///{tmp_path / 'portal.db'}"
        return
    import psycopg

    url = make_url(base)
    name = f"portal_smtp_test_{uuid.uuid4().hex[:10]}"
    admin_dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin_dsn, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def stored_user(app, username: str) -> User | None:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        if user is not None:
            db.session.expunge(user)
        return user


# --- init-db and the demo host's migrations ----------------------------------------------

def test_the_demo_hosts_models_and_migrations_agree(app):
    """The host's history builds exactly its models, and its filter leaves the module's
    tables (and version table) out: its autogenerate would neither create nor drop them."""
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_name": include_name})
        assert compare_metadata(context, host_db.metadata) == []
        versions = connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()
        assert versions == [("portal_0001",)]


def test_init_db_builds_a_new_database_with_both_histories(empty_database):
    app = create_app(_config(empty_database))
    try:
        result = app.test_cli_runner().invoke(args=["portal", "init-db"])
        assert result.exit_code == 0, result.output
        assert "База данных готова." in result.output
        with app.app_context(), db.engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            assert {"portal_user", "portal_crm_entity", "portal_crm_activity",
                    "portal_smtp_account", "portal_smtp_alembic_version"} <= tables
            assert "portal_smtp_user" not in tables
            query = connection.exec_driver_sql
            assert query("SELECT version_num FROM alembic_version").all() == [("portal_0001",)]
            assert query("SELECT version_num FROM portal_smtp_alembic_version").scalar()
        again = app.test_cli_runner().invoke(args=["portal", "init-db"])
        assert again.exit_code == 0, again.output
    finally:
        dispose(app)


def _old_release_database(app) -> None:
    """A database of the release before issue #11: the module's revision 0005 kept in the
    shared ``alembic_version``, users and a deal in the module's own tables."""
    with app.app_context():
        upgrade_schema("0005")
        with db.engine.begin() as connection:
            run = connection.exec_driver_sql
            run("DROP TABLE portal_smtp_alembic_version")
            run("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
            run("INSERT INTO alembic_version (version_num) VALUES ('0005')")
            # Ids come from the tables' own sequences, as in a real database: anna 1, boris 2.
            for username, role in (("anna", "admin"), ("boris", "user")):
                run("INSERT INTO portal_smtp_user (username, full_name, email, role, "
                    "password_hash, active, created_at, session_epoch) VALUES "
                    f"('{username}', '{username.title()}', "
                    f"'{username}@example.com', '{role}', "
                    f"'{generate_password_hash(username + '-pass-1')}', true, '{NOW}', 0)")
            run("INSERT INTO portal_smtp_crm_entity (kind, title, email, owner_id, "
                f"created_at) VALUES ('deal', 'Старая сделка', 'c@example.org', 2, '{NOW}')")
            run("INSERT INTO portal_smtp_crm_activity (entity_id, kind, author_id, "
                f"created_at, subject, summary) VALUES (1, 'email', 2, '{NOW}', 'Тема', '')")


def test_init_db_upgrades_an_old_database_in_place_with_its_users(empty_database):
    app = create_app(_config(empty_database))
    try:
        _old_release_database(app)
        result = app.test_cli_runner().invoke(args=["portal", "init-db"])
        assert result.exit_code == 0, result.output
        with app.app_context():
            with db.engine.connect() as connection:
                tables = set(inspect(connection).get_table_names())
                assert not {"portal_smtp_user", "portal_smtp_crm_entity"} & tables
                versions = connection.exec_driver_sql(
                    "SELECT version_num FROM alembic_version").all()
                assert versions == [("portal_0001",)]  # the module's revision moved out
                context = MigrationContext.configure(connection,
                                                     opts={"include_name": include_name})
                assert compare_metadata(context, host_db.metadata) == []
            assert db.session.scalars(select(User.username).order_by(User.id)).all() == [
                "anna", "boris"]
            deal = db.session.get(CrmEntity, 1)
            assert (deal.title, deal.owner_id, len(deal.activities)) == ("Старая сделка", 2, 1)
        # The old password still logs in; a new user continues the ids.
        client = app.test_client()
        login(client, Account(2, "boris", "boris-pass-1"))
        added = app.test_cli_runner().invoke(
            args=["portal", "users", "add", "vera", "--full-name", "Вера",
                  "--email", "vera@example.com"])
        assert "(id 3, пользователь)" in added.output, added.output
    finally:
        dispose(app)


# --- demo --------------------------------------------------------------------------------

def test_demo_prints_only_what_it_created(app, runner):
    first = runner.invoke(args=["portal", "demo"])
    assert first.exit_code == 0, first.output
    assert "admin / admin-demo" in first.output
    assert "Почтовый ящик ivanov@example.com" in first.output
    assert "SMTP-аккаунт портала noreply@example.com → 127.0.0.1:2525" in first.output
    assert "Сделка: Поставка оборудования" in first.output
    with app.app_context():
        account = db.session.scalar(select(SmtpAccount))
        assert (account.host, account.port) == (app.config["SMTP_DEVMAIL_HOST"],
                                               app.config["SMTP_DEVMAIL_PORT"])
        assert db.session.scalar(select(Mailbox.user_id).where(
            Mailbox.email == "petrova@example.com")) is not None
        lead = db.session.scalar(select(CrmEntity).where(CrmEntity.kind == "lead"))
        db.session.delete(lead)
        db.session.commit()
    second = runner.invoke(args=["portal", "demo"])
    assert second.exit_code == 0, second.output
    assert second.output.strip() == "Лид: Запрос с сайта: интеграция с 1С"
    third = runner.invoke(args=["portal", "demo"])
    assert third.output.strip() == "Демо-данные уже созданы."


def test_demo_refuses_in_production(database_uri):
    app = create_app(_config(database_uri, ENV="production"))
    try:
        result = app.test_cli_runner().invoke(args=["portal", "demo"])
        assert result.exit_code == 1
        assert "Демо-данные создаются только при разработке" in result.output
        assert "flask portal users add" in result.output
        assert "admin-demo" not in result.output
        with app.app_context():
            assert db.session.scalar(select(User.id)) is None
    finally:
        dispose(app)


# --- users -------------------------------------------------------------------------------

def add(runner, username: str, *extra: str, password: str | None = None):
    args = ["portal", "users", "add", username, "--full-name", "Пётр Петров",
            "--email", f"{username}@corp.local", *extra]
    if password is not None:
        return runner.invoke(args=[*args, "--password-stdin"], input=password + "\n")
    return runner.invoke(args=args)


def test_users_add_generates_a_password_and_prints_it_once(app, runner):
    result = add(runner, "petrov", "--admin")
    assert result.exit_code == 0, result.output
    assert "Пользователь petrov добавлен" in result.output and "администратор" in result.output
    password = result.output.split("Пароль (показывается один раз): ")[1].strip()
    assert len(password) >= 12
    assert stored_user(app, "petrov").is_admin
    login(app.test_client(), Account(0, "petrov", password))
    listed = runner.invoke(args=["portal", "users", "list"])
    assert password not in listed.output and "petrov" in listed.output


def test_users_add_reads_the_password_from_stdin(app, runner):
    result = add(runner, "petrov", password="stdin-pass-1")
    assert result.exit_code == 0, result.output
    assert "Пароль" not in result.output  # nothing to show: the operator typed it
    assert not stored_user(app, "petrov").is_admin
    login(app.test_client(), Account(0, "petrov", "stdin-pass-1"))


def test_users_add_refuses_duplicates_and_empty_passwords(app, runner, users):
    duplicate = add(runner, "IVANOV", password="some-pass-1")
    assert duplicate.exit_code == 1
    assert "Пользователь «IVANOV» уже есть." in duplicate.output
    empty = add(runner, "petrov", password="")
    assert empty.exit_code == 1 and "Пароль не может быть пустым." in empty.output
    short = add(runner, "petrov", password="short")
    assert short.exit_code == 1 and "не короче 8 символов" in short.output
    bad_address = runner.invoke(args=["portal", "users", "add", "petrov", "--full-name", "П",
                                      "--email", "nowhere"])
    assert bad_address.exit_code == 1 and "адрес электронной почты" in bad_address.output
    assert stored_user(app, "petrov") is None


def test_unknown_users_are_a_clear_error(runner, users):
    for command in (["passwd", "nobody", "--password-stdin"], ["deactivate", "nobody"],
                    ["activate", "nobody"], ["delete", "nobody"]):
        result = runner.invoke(args=["portal", "users", *command], input="some-pass-1\n")
        assert result.exit_code == 1, command
        assert "Пользователь «nobody» не найден." in result.output


def test_users_passwd_ends_the_sessions(app, runner, users):
    client = app.test_client()
    login(client, users.ivanov)
    result = runner.invoke(args=["portal", "users", "passwd", "ivanov", "--password-stdin"],
                           input="renewed-pass-1\n")
    assert result.exit_code == 0, result.output
    assert "Пароль пользователя ivanov изменён." in result.output
    assert client.get("/").status_code == 302
    login(client, Account(users.ivanov.id, "ivanov", "renewed-pass-1"))
    generated = runner.invoke(args=["portal", "users", "passwd", "ivanov"])
    password = generated.output.split("Новый пароль (показывается один раз): ")[1].strip()
    login(app.test_client(), Account(users.ivanov.id, "ivanov", password))
    empty = runner.invoke(args=["portal", "users", "passwd", "ivanov", "--password-stdin"],
                          input="\n")
    assert empty.exit_code == 1 and "Пароль не может быть пустым." in empty.output


def test_users_deactivate_ends_sessions_and_logins(app, runner, users):
    client = app.test_client()
    login(client, users.ivanov)
    result = runner.invoke(args=["portal", "users", "deactivate", "ivanov"])
    assert result.exit_code == 0 and "Пользователь ivanov отключён." in result.output
    assert client.get("/").status_code == 302
    refused = client.post("/login", data={"username": "ivanov", "password": users.ivanov.password,
                                          "csrf_token": csrf_token(client)})
    assert refused.status_code == 422
    listed = json.loads(runner.invoke(args=["portal", "users", "list", "--json"]).output)
    assert {row["username"]: row["active"] for row in listed}["ivanov"] is False


def test_users_list_json(runner, users):
    result = runner.invoke(args=["portal", "users", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [row["username"] for row in rows] == ["admin", "ivanov", "petrova"]
    assert set(rows[0]) == {"id", "username", "full_name", "email", "role", "active"}
    assert rows[0]["role"] == "admin" and rows[1]["role"] == "user"
    assert "pbkdf2" not in result.output and "scrypt" not in result.output


def test_users_delete_runs_the_modules_cascade(app, runner, users):
    data = module_data(app, users.ivanov.id)
    result = runner.invoke(args=["portal", "users", "delete", "ivanov"])
    assert result.exit_code == 0, result.output
    assert "Пользователь ivanov удалён." in result.output
    assert_cascaded(app, data, users.ivanov.id)
