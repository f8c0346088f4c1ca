"""Times the ``smtp`` commands print are the pages' times: in the portal's time zone with its
offset (ISO 8601), in text and in JSON — never UTC without an offset."""
from __future__ import annotations

import json
from datetime import datetime

import pytest

from portal_smtp.extensions import db
from portal_smtp.models import OutboxMessage

from .factories import make_account

#: A moment stored as the columns store it: naive UTC.
STORED = datetime(2026, 11, 24, 13, 42, 0)
SENT = datetime(2026, 11, 24, 13, 43, 5)


def queue_letter(app, runner) -> int:
    """A letter in the outbox with known creation and sending times."""
    result = runner.invoke(args=["smtp", "send", "--from", "desk@example.com", "--to",
                                 "client@example.org", "--subject", "Счёт", "--body", "Текст"])
    assert result.exit_code == 0, result.output
    letter_id = int(result.output.strip())
    with app.app_context():
        letter = db.session.get(OutboxMessage, letter_id)
        letter.created_at, letter.sent_at = STORED, SENT
        db.session.commit()
    return letter_id


def test_logs_json_shows_moscow_time_with_its_offset(app, runner):
    letter_id = queue_letter(app, runner)
    result = runner.invoke(args=["smtp", "logs", "--json"])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    assert row["id"] == letter_id
    assert row["created_at"] == "2026-11-24T16:42:00+03:00"
    assert row["sent_at"] == "2026-11-24T16:43:05+03:00"


def test_logs_text_shows_the_time_with_its_offset(app, runner):
    queue_letter(app, runner)
    result = runner.invoke(args=["smtp", "logs"])
    assert result.exit_code == 0, result.output
    assert "2026-11-24 16:42:00+03:00" in result.output
    assert "13:42" not in result.output


def test_a_letter_not_sent_has_no_sending_time(app, runner):
    letter_id = queue_letter(app, runner)
    with app.app_context():
        db.session.get(OutboxMessage, letter_id).sent_at = None
        db.session.commit()
    [row] = json.loads(runner.invoke(args=["smtp", "logs", "--json"]).output)
    assert row["sent_at"] is None


def checked_account(app) -> int:
    with app.app_context():
        account = make_account("desk@example.com", "Отдел продаж")
        account.last_check_at, account.last_check_ok = STORED, True
        db.session.commit()
        return account.id


def test_accounts_list_shows_the_last_check_in_the_portal_zone(app, runner):
    account_id = checked_account(app)
    with app.app_context():
        make_account("never@example.com")
    [checked, unchecked] = json.loads(
        runner.invoke(args=["smtp", "accounts", "list", "--json"]).output)
    assert (checked["id"], checked["last_check_at"], checked["last_check_ok"]) == (
        account_id, "2026-11-24T16:42:00+03:00", True)
    assert (unchecked["last_check_at"], unchecked["last_check_ok"]) == (None, None)
    text = runner.invoke(args=["smtp", "accounts", "list"]).output
    assert "проверен 2026-11-24 16:42:00+03:00: успешно" in text
    assert "не проверялся" in text


@pytest.fixture
def vladivostok(app_config):
    """A portal whose time zone is not Moscow's."""
    app_config["TIMEZONE"] = "Asia/Vladivostok"


def test_the_portal_zone_is_the_configured_one(vladivostok, app, runner):
    checked_account(app)
    queue_letter(app, runner)
    [letter] = json.loads(runner.invoke(args=["smtp", "logs", "--json"]).output)
    [account] = json.loads(runner.invoke(args=["smtp", "accounts", "list", "--json"]).output)
    assert letter["created_at"] == account["last_check_at"] == "2026-11-24T23:42:00+10:00"

