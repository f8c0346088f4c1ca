"""Health (SPEC §17): periodic re-checks against real servers on an injected clock, one
notification after N failures in a row and none until recovery, the IMAP status, the banner
and the warning about the system sender."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal_smtp.extensions import db
from portal_smtp.models import Mailbox, MailboxSending, OutboxMessage, SenderState, SmtpAccount
from portal_smtp.services.health import run_due_checks
from portal_smtp.timeutil import utcnow

from .conftest import login
from .factories import make_account
from .mail_fixtures import ADDRESS, PASSWORD
from .servers import USERS

LOGIN = "user@example.com"


@pytest.fixture
def app_config(app_config):
    app_config.update(SMTP_HEALTH_INTERVAL_SECONDS=3600, SMTP_HEALTH_FAILURES_TO_NOTIFY=3,
                      SMTP_SYSTEM_FROM="portal@example.com",
                      SMTP_ADMIN_EMAILS="admin@example.com, ops@example.com")
    return app_config


def accounts(app, smtp, password: str = USERS[LOGIN]) -> int:
    """The checked account (login auth on the plain server) and the system sender's."""
    with app.app_context():
        checked = make_account(LOGIN, "Продажи", host="127.0.0.1", port=smtp.plain.port,
                               security="none", auth="login", login=LOGIN, password=password)
        make_account("portal@example.com", "Портал", host="127.0.0.1", port=smtp.plain.port,
                     security="none", auth="none", login="")
        return checked.id


def set_password(app, account_id: int, password: str) -> None:
    with app.app_context():
        db.session.get(SmtpAccount, account_id).password = password
        db.session.commit()


def notices(app) -> list[OutboxMessage]:
    with app.app_context():
        letters = db.session.scalars(select(OutboxMessage).where(
            OutboxMessage.subject.like("Отправка почты:%"))).all()
        db.session.expunge_all()
        return letters


def state(app, kind: str, key: int) -> SenderState:
    with app.app_context():
        found = db.session.get(SenderState, (kind, key))
        db.session.expunge_all()
        return found


def test_failures_notify_once_and_recovery_resets(app, smtp):
    account_id = accounts(app, smtp, password="wrong-password")
    now = utcnow()
    with app.app_context():
        # The system sender's account fails too (no login at all is fine; it passes).
        for hour in range(5):
            run_due_checks(now + timedelta(hours=hour, seconds=1))
    assert state(app, "account", account_id).health_failures == 5
    (notice,) = notices(app)  # one letter, not one per failure
    assert "<portal@example.com>" in notice.from_header
    assert set(notice.recipients.splitlines()) == {"admin@example.com", "ops@example.com"}
    assert "SMTP-аккаунт user@example.com не проходит проверку" in notice.subject
    assert b"wrong-password" not in notice.raw
    with app.app_context():
        account = db.session.get(SmtpAccount, account_id)
        assert account.last_check_ok is False  # the list shows the last result
    set_password(app, account_id, USERS[LOGIN])
    with app.app_context():
        run_due_checks(now + timedelta(hours=6))
    recovered = state(app, "account", account_id)
    assert (recovered.health_failures, recovered.health_notified_at) == (0, None)
    set_password(app, account_id, "wrong-again")
    with app.app_context():
        for hour in range(7, 10):
            run_due_checks(now + timedelta(hours=hour))
    assert len(notices(app)) == 2  # failing again after a recovery tells again
    assert smtp.plain.handler.received == []  # a health check never sends a letter


def test_the_interval_is_respected(app, smtp):
    account_id = accounts(app, smtp)
    now = utcnow()
    with app.app_context():
        assert run_due_checks(now) == 2
        assert run_due_checks(now) == 0  # taken: another worker process checks nothing twice
        assert run_due_checks(now + timedelta(minutes=59)) == 0
        assert run_due_checks(now + timedelta(minutes=61)) == 2
    assert state(app, "account", account_id).health_failures == 0


def test_switched_off_checks_nothing(app, smtp):
    app.config["SMTP_HEALTH_INTERVAL_SECONDS"] = 0
    accounts(app, smtp)
    with app.app_context():
        assert run_due_checks() == 0


def test_a_mailbox_keeps_its_imap_status_and_its_owner_is_told(app, smtp, dovecot, provider,
                                                              users):
    with app.app_context():
        make_account("portal@example.com", "Портал", host="127.0.0.1", port=smtp.plain.port,
                     security="none", auth="none", login="")
        box = Mailbox(user_id=users.ivanov.id, email=ADDRESS, email_normalized=ADDRESS,
                      provider_id=provider, imap_host="127.0.0.1", imap_port=dovecot.ssl_port,
                      imap_security="ssl", imap_login=ADDRESS, imap_password=PASSWORD)
        box.sending = MailboxSending(use_provider=True, auth_mode="imap", enabled=True)
        db.session.add(box)
        db.session.commit()
        box_id = box.id
        now = utcnow()
        run_due_checks(now)
        checked = db.session.get(Mailbox, box_id)
        assert (checked.imap_check_ok, checked.sending.last_check_ok) == (True, True)
        checked.imap_password = "not-the-password-any-more"  # changed on the server
        db.session.commit()
        for hour in range(1, 4):
            run_due_checks(now + timedelta(hours=hour))
        db.session.expire_all()
        checked = db.session.get(Mailbox, box_id)
        assert checked.imap_check_ok is False and checked.imap_check_message
    (notice,) = notices(app)
    assert notice.recipients == "ivanov@example.com"
    assert "Почтовый ящик anna@corp.example" in notice.subject
    owner = app.test_client()
    login(owner, users.ivanov)
    page = owner.get("/mail/").get_data(as_text=True)
    assert "IMAP: ошибка входа" in page  # the list shows the last re-check
    assert "Почтовый ящик anna@corp.example не проходит проверку" in page  # the banner


def test_the_banner_shows_the_owner_and_administrators_what_fails(app, smtp, users, client):
    account_id = accounts(app, smtp, password="wrong-password")
    now = utcnow()
    with app.app_context():
        for hour in range(3):
            run_due_checks(now + timedelta(hours=hour))
    login(client, users.admin)
    page = client.get("/admin/smtp/accounts").get_data(as_text=True)
    assert "SMTP-аккаунт user@example.com не проходит проверку (3 раз подряд)" in page
    client.post("/logout")
    other = app.test_client()
    login(other, users.ivanov)
    page = other.get("/").get_data(as_text=True)
    assert "не проходит проверку" not in page  # not ivanov's, and he is no administrator
    assert state(app, "account", account_id).health_failures == 3


def test_settings_warn_about_the_system_sender(app, smtp, users, client):
    login(client, users.admin)
    page = client.get("/admin/smtp/settings").get_data(as_text=True)
    assert "не обслуживается ни одним активным SMTP-аккаунтом" in page
    accounts(app, smtp)
    page = client.get("/admin/smtp/settings").get_data(as_text=True)
    assert 'id="system-sender-warning"' not in page
    app.config["SMTP_SYSTEM_FROM"] = None
    page = client.get("/admin/smtp/settings").get_data(as_text=True)
    assert "Системный отправитель не задан (SMTP_SYSTEM_FROM)" in page
