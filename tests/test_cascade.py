"""The cascade service (SPEC §1, §6, §8): every path, on SQLite and PostgreSQL, including a
failure in the middle that must leave nothing half-deleted."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal_smtp import send_mail
from portal_smtp.extensions import db
from portal_smtp.models import (
    CascadeRecord,
    CrmSender,
    Mailbox,
    MailboxSending,
    OutboxMessage,
    SendLog,
)
from portal_smtp.services.cascade import delete_mailbox, disable_mailbox_sending
from portal_smtp.services.crm_senders import can_delete, senders_for
from portal_smtp.signals import mailbox_deleted
from portal_smtp.smtp.addresses import normalize_address
from portal_smtp.worker import run_workers

from .factories import make_account
from .mail_fixtures import ADDRESS
from .servers import USERS
from .test_outbox import letter


def crm_sender(user_id: int, email: str, *, smtp=None, shared=False, name="") -> int:
    sender = CrmSender(user_id=user_id, name=name, email=email,
                       email_normalized=normalize_address(email), shared=shared)
    if smtp is not None:
        sender.has_smtp = True
        sender.smtp_host, sender.smtp_port, sender.smtp_security = smtp
        sender.smtp_login, sender.smtp_password = "user@example.com", USERS["user@example.com"]
    db.session.add(sender)
    db.session.flush()
    return sender.id


@pytest.fixture
def configured(app, mailbox, users, smtp):
    """Anna's mailbox with sending on; ivanov's CRM senders of the same and another address;
    petrova's sender of the same address."""
    with app.app_context():
        box = db.session.get(Mailbox, mailbox)
        box.sending = MailboxSending(use_provider=True, auth_mode="imap")
        ids = {
            "same_smtp": crm_sender(users.ivanov.id, ADDRESS.upper(),
                                    smtp=("127.0.0.1", smtp.plain.port, "none")),
            "other": crm_sender(users.ivanov.id, "sales@corp.example"),
            "petrova": crm_sender(users.petrova.id, ADDRESS),
        }
        db.session.commit()
    return ids


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(model.id)).where(*where))


def test_deleting_a_mailbox_removes_its_settings_and_the_owners_sender(app, configured,
                                                                       mailbox, users):
    with app.app_context():
        delete_mailbox(db.session.get(Mailbox, mailbox), None)
        db.session.commit()
    assert count(app, Mailbox) == 0 and count(app, MailboxSending) == 0
    assert count(app, CrmSender, CrmSender.id == configured["same_smtp"]) == 0
    assert count(app, CrmSender, CrmSender.id == configured["other"]) == 1
    assert count(app, CrmSender, CrmSender.id == configured["petrova"]) == 1
    with app.app_context():
        records = db.session.scalars(select(CascadeRecord.action)).all()
    assert sorted(records) == ["mailbox_deleted", "mailbox_sending_disabled"]


def test_switching_sending_off_removes_only_the_crm_smtp_sender(app, configured, mailbox,
                                                                users):
    with app.app_context():
        code_sender = crm_sender(users.ivanov.id, ADDRESS)  # confirmed by code, no SMTP
        db.session.commit()
        from portal_smtp.portal.models import User

        actor = db.session.get(User, users.ivanov.id)
        assert disable_mailbox_sending(db.session.get(Mailbox, mailbox), actor)
        db.session.commit()
        record = db.session.scalar(select(CascadeRecord))
        assert record.actor_id == users.ivanov.id and ADDRESS in record.details
    assert count(app, MailboxSending) == 0 and count(app, Mailbox) == 1
    assert count(app, CrmSender, CrmSender.id == configured["same_smtp"]) == 0
    assert count(app, CrmSender, CrmSender.id == code_sender) == 1


def test_waiting_letters_of_a_removed_sender_fail_and_never_move(app, configured, mailbox,
                                                                 smtp):
    """SPEC §8: a letter is bound to its sender; an admin account serving the same address
    never takes a user's letter over when the user's own server goes away."""
    with app.app_context():
        box = db.session.get(Mailbox, mailbox)
        from_box = send_mail(letter(sender=ADDRESS), sender=box)
        sender = db.session.get(CrmSender, configured["same_smtp"])
        from_sender = send_mail(letter(sender=f"Продажи <{ADDRESS}>"), sender=sender)
        make_account(ADDRESS, host="127.0.0.1", port=smtp.plain.port, security="none",
                     auth="none", login="")
        disable_mailbox_sending(box, None)
        db.session.commit()
        first = db.session.get(OutboxMessage, from_box)
        second = db.session.get(OutboxMessage, from_sender)
        assert (first.status, first.transport_type) == ("failed", "mailbox")
        assert "отключена — письмо не отправлено" in first.last_error
        assert (second.status, second.transport_type) == ("failed", "sender")
        assert second.last_error == "Отправитель удалён — письмо не отправлено."
        assert db.session.scalar(select(SendLog.error).where(SendLog.outbox_id == from_sender))
    run_workers(app, once=True)
    assert smtp.plain.handler.received == []


def test_a_failure_in_the_middle_leaves_nothing_half_deleted(app, configured, mailbox):
    def explode(sender, **kwargs):
        raise RuntimeError("the CRM could not be told")

    mailbox_deleted.connect(explode)
    try:
        with app.app_context():
            with pytest.raises(RuntimeError):
                delete_mailbox(db.session.get(Mailbox, mailbox), None)
            db.session.rollback()
    finally:
        mailbox_deleted.disconnect(explode)
    assert count(app, Mailbox) == 1 and count(app, MailboxSending) == 1
    assert count(app, CrmSender) == 3 and count(app, CascadeRecord) == 0


def test_crm_sender_with_its_own_smtp_sends_through_it(app, users, smtp):
    with app.app_context():
        sender_id = crm_sender(users.ivanov.id, "user@example.com",
                               smtp=("127.0.0.1", smtp.plain.port, "none"))
        db.session.commit()
        send_mail(letter(sender="user@example.com"), sender=db.session.get(CrmSender, sender_id))
    run_workers(app, once=True)
    [received] = smtp.plain.handler.received
    assert received.login == "user@example.com"


def test_from_list_shows_own_and_shared_senders_only(app, users):
    with app.app_context():
        from portal_smtp.portal.models import User

        own = crm_sender(users.petrova.id, "petrova@example.com")
        shared = crm_sender(users.ivanov.id, "team@example.com", shared=True)
        private = crm_sender(users.ivanov.id, "ivanov-private@example.com")
        db.session.commit()
        petrova = db.session.get(User, users.petrova.id)
        _, senders = senders_for(petrova)
        assert [s.id for s in senders] == [own, shared]
        assert private not in [s.id for s in senders]
        assert not can_delete(petrova, db.session.get(CrmSender, shared))
        assert can_delete(petrova, db.session.get(CrmSender, own))


def test_first_configuration_offers_the_crm_sender_settings(app, client, users, mailbox,
                                                             smtp):
    from .conftest import csrf_token, login

    with app.app_context():
        db.session.get(Mailbox, mailbox).provider_id = None  # a mailbox set up by hand
        crm_sender(users.ivanov.id, ADDRESS, smtp=("127.0.0.1", smtp.plain.port, "none"))
        db.session.commit()
    login(client, users.ivanov)
    modal = client.get(f"/mail/{mailbox}/smtp").get_data(as_text=True)
    assert f"Предложены настройки вашего отправителя CRM {ADDRESS}" in modal
    assert f'value="{smtp.plain.port}"' in modal and 'value="user@example.com"' in modal
    token = csrf_token(client, f"/mail/{mailbox}/smtp")
    saved = client.post(f"/mail/{mailbox}/smtp", data={
        "csrf_token": token, "enabled": "y", "host": "127.0.0.1", "port": smtp.plain.port,
        "auth_mode": "custom", "login": "user@example.com", "password": ""})
    assert saved.status_code == 302, saved.get_data(as_text=True)
    with app.app_context():
        sending = db.session.scalar(select(MailboxSending))
        assert sending.password == USERS["user@example.com"] and sending.last_check_ok


def test_the_cli_runs_the_same_cascade(app, runner, configured, mailbox):
    result = runner.invoke(args=["smtp", "mailboxes", "disable-sending", str(mailbox)])
    assert result.exit_code == 0 and "отключена" in result.output
    assert count(app, CrmSender, CrmSender.id == configured["same_smtp"]) == 0
    result = runner.invoke(args=["smtp", "mailboxes", "delete", str(mailbox)])
    assert result.exit_code == 0 and count(app, Mailbox) == 0
    with app.app_context():
        assert db.session.scalar(select(func.count(CascadeRecord.id))) == 2
    missing = runner.invoke(args=["smtp", "mailboxes", "delete", str(mailbox)])
    assert missing.exit_code == 1 and "не найден" in missing.output
