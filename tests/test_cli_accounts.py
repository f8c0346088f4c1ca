"""``flask smtp accounts …``: verified add, JSON list without secrets, switches, delete."""
from __future__ import annotations

import json

from portal_smtp.extensions import db
from portal_smtp.models import SmtpAccount

from .servers import USERS

LOGIN = "user@example.com"


def add(runner, endpoint, password=USERS[LOGIN], *extra):
    return runner.invoke(args=[
        "smtp", "accounts", "add", "--name", "Рассылка", "--email", LOGIN, "--host",
        endpoint.host, "--port", str(endpoint.port), "--security", "ssl", "--auth", "login",
        "--login", LOGIN, "--password-stdin", *extra], input=f"{password}\n")


def test_add_verifies_then_prints_the_id(app, runner, smtp):
    result = add(runner, smtp.ssl, USERS[LOGIN], "--mailing-first")
    assert result.exit_code == 0, result.output
    account_id = int(result.output.strip())
    with app.app_context():
        account = db.session.get(SmtpAccount, account_id)
        assert account.mailing_first and account.active and account.last_check_ok


def test_failed_check_saves_nothing_and_exits_1(app, runner, smtp):
    result = add(runner, smtp.ssl, "wrong-password")
    assert result.exit_code == 1
    assert "Неверный логин или пароль" in result.output
    assert "wrong-password" not in result.output
    with app.app_context():
        assert db.session.query(SmtpAccount).count() == 0


def test_list_json_never_shows_a_password(runner, smtp):
    add(runner, smtp.ssl, USERS[LOGIN], "--inactive")
    result = runner.invoke(args=["smtp", "accounts", "list", "--json"])
    [row] = json.loads(result.output)
    # SPEC §14's fields, plus the last check (added: its time in the portal's zone) and the
    # sending limits (SPEC §17).
    assert set(row) == {"id", "active", "name", "email", "host", "port", "security", "auth",
                        "mailing_first", "last_check_at", "last_check_ok", "limit_minute",
                        "limit_hour", "limit_day", "limit_letter"}
    assert row["active"] is False and row["security"] == "ssl"
    assert USERS[LOGIN] not in result.output


def test_activate_deactivate_delete(app, runner, smtp):
    account_id = add(runner, smtp.ssl).output.strip()
    assert runner.invoke(args=["smtp", "accounts", "deactivate", account_id]).exit_code == 0
    assert runner.invoke(args=["smtp", "resolve", LOGIN]).exit_code == 1
    assert runner.invoke(args=["smtp", "accounts", "activate", account_id]).exit_code == 0
    assert runner.invoke(args=["smtp", "resolve", LOGIN]).output.strip() == account_id
    assert runner.invoke(args=["smtp", "accounts", "delete", account_id]).exit_code == 0
    missing = runner.invoke(args=["smtp", "accounts", "delete", account_id])
    assert missing.exit_code == 1 and "не найден" in missing.output


def test_add_takes_sending_limits(app, runner, smtp):
    result = add(runner, smtp.ssl, USERS[LOGIN], "--limit-minute", "60", "--limit-letter", "25")
    assert result.exit_code == 0, result.output
    with app.app_context():
        account = db.session.get(SmtpAccount, int(result.output.strip()))
        assert (account.limit_minute, account.limit_hour, account.limit_letter) == (60, None, 25)
    refused = add(runner, smtp.ssl, USERS[LOGIN], "--limit-day", "0")
    assert refused.exit_code == 2 and "--limit-day" in refused.output
