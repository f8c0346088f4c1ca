"""Which transport may send a user's letter (SPEC §8, issue #10 items 1 and 2): a letter is
bound to its sender; an admin account sends a user's letter only for a proven address; ids
are never reused, so no waiting letter drifts to a new account."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from portal_smtp import send_mail
from portal_smtp.extensions import db
from portal_smtp.models import (
    CrmSender,
    Mailbox,
    MailboxSending,
    OutboxMessage,
    SmtpAccount,
)
from portal_smtp.portal.models import CrmEntity, User
from portal_smtp.services.accounts import delete_accounts, set_active
from portal_smtp.services.mailboxes import MailboxInput, connect_mailbox
from portal_smtp.services.outbox import SendRefused, retry_letter
from portal_smtp.services.routing import SENDER_DELETED, judge_mailbox_proof
from portal_smtp.worker import run_workers

from .conftest import csrf_token, login
from .factories import make_account
from .mail_fixtures import ADDRESS, PASSWORD
from .test_outbox import letter

DIRECTOR = "director@example.com"


@pytest.fixture
def app_config(app_config):
    app_config.update(SMTP_SYSTEM_FROM="Портал <noreply@example.com>")
    return app_config


@pytest.fixture
def official(app, smtp):
    """The administrators' official account for DIRECTOR, on the plain test server."""
    with app.app_context():
        return make_account(DIRECTOR, "Директор", host="127.0.0.1", port=smtp.plain.port,
                            security="none", auth="none", login="").id


@pytest.fixture
def deal(app, users):
    with app.app_context():
        item = CrmEntity(kind="deal", title="Поставка", email="client@example.org",
                         owner_id=users.ivanov.id)
        db.session.add(item)
        db.session.commit()
        return item.id


def status(app, letter_id: int) -> tuple[str, str, str]:
    with app.app_context():
        found = db.session.get(OutboxMessage, letter_id)
        return found.status, found.transport_type, found.last_error


def compose(client, deal: int, sender: str) -> int:
    token = csrf_token(client, f"/crm/{deal}")
    response = client.post(f"/crm/compose/deal/{deal}", data={
        "csrf_token": token, "sender": sender, "to-0": "client@example.org",
        "subject": "Распоряжение", "body": "Оплатите счёт.", "action": "send"})
    assert response.status_code == 302, response.get_data(as_text=True)
    with client.application.app_context():
        return db.session.scalar(select(OutboxMessage.id).order_by(OutboxMessage.id.desc()))


def test_deleting_a_crm_smtp_sender_never_hands_its_letter_to_an_admin_account(
        app, client, users, official, deal, smtp):
    """The reported escalation: a user's own server for director@ refuses, the user deletes
    the sender, and the official account must not deliver the waiting letter."""
    login(client, users.ivanov)
    token = csrf_token(client, "/crm/senders/new")
    added = client.post("/crm/senders/new", data={
        "csrf_token": token, "action": "smtp", "name": "Директор", "email": DIRECTOR,
        "host": "127.0.0.1", "port": str(smtp.noauth.port), "login": ""})
    assert added.status_code == 302, added.get_data(as_text=True)
    with app.app_context():
        sender = db.session.scalar(select(CrmSender))
        assert sender.has_smtp and not sender.address_proven
        sender.smtp_port = smtp.closed.port  # her server now refuses connections
        db.session.commit()
        sender_id = sender.id
    letter_id = compose(client, deal, f"sender:{sender_id}")
    run_workers(app, once=True)
    assert status(app, letter_id)[:2] == ("deferred", "sender")

    deleted = client.post(f"/crm/senders/{sender_id}/delete", data={"csrf_token": token})
    assert deleted.status_code == 302
    assert status(app, letter_id) == ("failed", "sender", SENDER_DELETED)
    run_workers(app, once=True)
    assert smtp.plain.handler.received == []

    login(client, users.admin)  # «Повторить» refuses it with the same reason
    token = csrf_token(client, f"/admin/smtp/logs/{letter_id}")
    page = client.post(f"/admin/smtp/logs/{letter_id}/retry", data={"csrf_token": token},
                       follow_redirects=True).get_data(as_text=True)
    assert "Отправитель удалён — письмо не отправлено." in page
    assert status(app, letter_id)[0] == "failed"
    run_workers(app, once=True)
    assert smtp.plain.handler.received == []


def test_switching_mailbox_sending_off_fails_its_letters_instead_of_rerouting(
        app, client, users, mailbox, smtp):
    with app.app_context():
        make_account(ADDRESS, host="127.0.0.1", port=smtp.plain.port, security="none",
                     auth="none", login="")
        box = db.session.get(Mailbox, mailbox)
        box.sending = MailboxSending(host="127.0.0.1", port=smtp.closed.port, security="none",
                                     auth_mode="none")
        db.session.commit()
        letter_id = send_mail(letter(sender=ADDRESS), sender=box)
    run_workers(app, once=True)
    assert status(app, letter_id)[0] == "deferred"
    login(client, users.ivanov)
    token = csrf_token(client, "/mail/")
    client.post(f"/mail/{mailbox}/smtp/disable", data={"csrf_token": token})
    state, kind, reason = status(app, letter_id)
    assert (state, kind) == ("failed", "mailbox") and "отключена" in reason
    run_workers(app, once=True)
    assert smtp.plain.handler.received == []


def test_the_worker_never_reroutes_a_letter_whose_own_server_vanished(app, users, official,
                                                                      smtp):
    """Even a change the cascade did not see (the sender's server switched off in the
    database) leaves the letter failed, not sent through the official account."""
    with app.app_context():
        sender = CrmSender(user_id=users.ivanov.id, email=DIRECTOR,
                           email_normalized=DIRECTOR, has_smtp=True, smtp_host="127.0.0.1",
                           smtp_port=smtp.closed.port, smtp_security="none")
        db.session.add(sender)
        db.session.commit()
        letter_id = send_mail(letter(sender=DIRECTOR), sender=sender)
        sender.has_smtp = False
        db.session.commit()
    run_workers(app, once=True)
    state, kind, reason = status(app, letter_id)
    assert (state, kind) == ("failed", "sender") and "отключена" in reason
    assert smtp.plain.handler.received == []


def test_an_unproven_address_never_goes_through_an_admin_account(app, users, official, smtp):
    with app.app_context():
        box = Mailbox(user_id=users.ivanov.id, email=DIRECTOR, email_normalized=DIRECTOR,
                      imap_host="imap.example.com", imap_port=993, imap_security="ssl",
                      imap_login=DIRECTOR, imap_source="manual")
        db.session.add(box)
        db.session.commit()
        letter_id = send_mail(letter(sender=DIRECTOR), sender=box)
    state, kind, reason = status(app, letter_id)
    assert (state, kind) == ("failed", "") and f"Адрес {DIRECTOR} не подтверждён" in reason
    run_workers(app, once=True)
    assert smtp.plain.handler.received == []


def test_a_code_confirmed_sender_goes_through_the_account_and_follows_account_changes(
        app, users, official, smtp):
    with app.app_context():
        sender = CrmSender(user_id=users.ivanov.id, email=DIRECTOR, email_normalized=DIRECTOR,
                           address_proven=True)
        db.session.add(sender)
        db.session.commit()
        sender_id = sender.id
        first = send_mail(letter(sender=DIRECTOR, subject="первое"), sender=sender)
        second = send_mail(letter(sender=DIRECTOR, subject="второе"), sender=sender)
        assert status(app, first)[:2] == ("queued", "account")
        spare = make_account(DIRECTOR, host="127.0.0.1", port=smtp.noauth.port,
                             security="none", auth="none", login="").id
        # The newest account serves the address; deleting it moves the letters to the
        # remaining active one — the proof is of the address, not of the account.
        delete_accounts(select(SmtpAccount.id).where(SmtpAccount.id == spare))
        db.session.commit()
        assert db.session.get(OutboxMessage, first).transport_id == official
        set_active(select(SmtpAccount.id).where(SmtpAccount.id == official), False)
        db.session.commit()
    for letter_id in (first, second):
        state, kind, reason = status(app, letter_id)
        assert (state, kind) == ("failed", "account")
        assert reason.startswith("Не найден SMTP-аккаунт для отправителя") and DIRECTOR in reason
    with app.app_context():
        set_active(select(SmtpAccount.id).where(SmtpAccount.id == official), True)
        retry_letter(db.session.get(OutboxMessage, first))
        db.session.delete(db.session.get(CrmSender, sender_id))
        db.session.commit()
        with pytest.raises(SendRefused, match="Отправитель удалён"):
            retry_letter(db.session.get(OutboxMessage, second))
    run_workers(app, once=True)
    assert [m.message["Subject"] for m in smtp.plain.handler.received] == ["первое"]


def test_system_letters_are_resolved_again_when_their_account_goes(app, official, smtp):
    with app.app_context():
        letter_id = send_mail(letter(sender=DIRECTOR))
        newer = make_account(DIRECTOR, host="127.0.0.1", port=smtp.noauth.port,
                             security="none", auth="none", login="").id
        assert db.session.get(OutboxMessage, letter_id).transport_id == official
        delete_accounts(select(SmtpAccount.id).where(SmtpAccount.id == official))
        db.session.commit()
        assert db.session.get(OutboxMessage, letter_id).transport_id == newer
    run_workers(app, once=True)
    assert len(smtp.noauth.handler.received) == 1 and smtp.plain.handler.received == []


def test_imap_login_proves_the_address_only_at_the_domains_own_provider(app, users, provider,
                                                                        dovecot):
    """The directory provider matched by the domain proves the address; a provider picked by
    hand, or a server typed by hand, proves nothing even when the login works."""
    from portal_smtp.models import MailProvider

    with app.app_context():
        user = db.session.get(User, users.ivanov.id)
        matched = db.session.get(MailProvider, provider)
        box, result = connect_mailbox(user, MailboxInput(email=ADDRESS, password=PASSWORD,
                                                         provider=matched))
        assert result.ok and (box.imap_source, box.address_proof) == ("directory", "imap")
        db.session.rollback()
        typed, result = connect_mailbox(user, MailboxInput(
            email=ADDRESS, password=PASSWORD, imap_host="127.0.0.1",
            imap_port=dovecot.ssl_port, imap_security="ssl"))
        assert result.ok and (typed.imap_source, typed.address_proof) == ("manual", "")
        db.session.rollback()
        # An address of a domain the provider does not serve, connected through it by hand
        # with the user's own login there.
        matched.login_format = "manual"
        chosen, result = connect_mailbox(user, MailboxInput(
            email="anna@elsewhere.example", password=PASSWORD, provider=matched,
            login=ADDRESS))
        assert result.ok and (chosen.imap_source, chosen.address_proof) == ("chosen", "")
        db.session.rollback()


def test_a_login_of_another_user_at_the_right_provider_proves_nothing(app, users, provider):
    from portal_smtp.models import MailProvider

    with app.app_context():
        matched = db.session.get(MailProvider, provider)
        matched.login_format = "manual"
        box = Mailbox(user_id=users.ivanov.id, email="boss@corp.example",
                      email_normalized="boss@corp.example", provider=matched,
                      imap_host="127.0.0.1", imap_port=993, imap_security="ssl",
                      imap_login="eve@corp.example", imap_source="directory")
        assert judge_mailbox_proof(box) == ""
        box.imap_login = "Boss"
        assert judge_mailbox_proof(box) == "imap"  # the local part, as the format allows
        db.session.rollback()


# --- item 2: ids are never reused -------------------------------------------------------

def test_a_new_account_never_inherits_the_id_of_a_deleted_one(app, users, smtp):
    with app.app_context():
        first = make_account("a@example.com").id
        last = make_account("b@example.com").id
        delete_accounts(select(SmtpAccount.id).where(SmtpAccount.id == last))
        db.session.commit()
        again = make_account("c@example.com").id
        assert again > last > first
        for model, values in (
                (User, {"username": "x", "full_name": "X", "email": "x@example.com",
                        "password_hash": "-"}),
                (CrmSender, {"user_id": users.ivanov.id, "email": "s@example.com",
                             "email_normalized": "s@example.com"}),
                (Mailbox, {"user_id": users.ivanov.id, "email": "m@example.com",
                           "email_normalized": "m@example.com", "imap_host": "h",
                           "imap_port": 993, "imap_security": "ssl", "imap_login": "m"})):
            row = model(**values)
            db.session.add(row)
            db.session.commit()
            gone = row.id
            db.session.delete(row)
            db.session.commit()
            fresh = model(**values)
            db.session.add(fresh)
            db.session.commit()
            assert fresh.id > gone, model.__name__


def test_a_letter_of_a_deleted_account_is_never_sent_by_a_new_one(app, smtp):
    """Delete the account a letter waits for, add an unrelated one: the letter fails with
    the reason instead of leaving through the newcomer's server and credentials."""
    with app.app_context():
        doomed = make_account(DIRECTOR, host="127.0.0.1", port=smtp.closed.port,
                              security="none", auth="none", login="").id
        letter_id = send_mail(letter(sender=DIRECTOR))
        delete_accounts(select(SmtpAccount.id).where(SmtpAccount.id == doomed))
        db.session.commit()
        newcomer = make_account("other@example.org", host="127.0.0.1", port=smtp.plain.port,
                                security="none", auth="none", login="").id
        assert newcomer != doomed
    state, _, reason = status(app, letter_id)
    assert state == "failed" and "Не найден SMTP-аккаунт" in reason
    run_workers(app, once=True)
    assert smtp.plain.handler.received == []
