"""SPEC §11: the outbox against real SMTP servers — queueing, workers, retries, logs."""
from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes
from email.message import EmailMessage

import pytest
from sqlalchemy import create_engine, select, update

from portal_smtp import send_mail
from portal_smtp.extensions import db
from portal_smtp.models import OutboxMessage, SendLog, SmtpAccount
from portal_smtp.services.module_settings import get_module_settings, save_module_settings
from portal_smtp.services.outbox import SendRefused, retry_letter
from portal_smtp.timeutil import utcnow
from portal_smtp.worker import DeliveryConfig, Worker, run_workers
from portal_smtp.worker.bookkeeping import Bookkeeping
from portal_smtp.worker.claim import claim
from portal_smtp.worker.connections import Connections
from portal_smtp.worker.maintenance import apply_retention, recover_expired
from portal_smtp.worker.transports import TRANSPORT_TTL

from .factories import make_account
from .servers import USERS, AioServer, RecordingHandler, message_ids

LOGIN = "user@example.com"


@pytest.fixture
def app_config(app_config):
    app_config.update(SMTP_RETRY_BASE_SECONDS=0, SMTP_RETRY_MAX_SECONDS=0,
                      SMTP_WORKER_IDLE_SECONDS=0.05)
    return app_config


def letter(sender=f"Отдел продаж <{LOGIN}>", to="client@example.org", subject="Счёт №1",
           body="Здравствуйте! Счёт во вложении.", **headers) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


def account_on(endpoint, security="none", auth="none", **extra):
    values = {"login": LOGIN, "password": USERS[LOGIN]} if auth != "none" else {"login": ""}
    return make_account(LOGIN, "Продажи", host=endpoint.host, port=endpoint.port,
                        security=security, auth=auth, **values | extra)


def drain(app, concurrency=1) -> int:
    return run_workers(app, concurrency=concurrency, once=True)


def outbox(app, letter_id) -> OutboxMessage:
    with app.app_context():
        row = db.session.get(OutboxMessage, letter_id)
        db.session.expunge(row)
        return row


def attempts(app, letter_id) -> list[tuple[str, int]]:
    with app.app_context():
        return [(entry.status, entry.attempt) for entry in db.session.scalars(
            select(SendLog).where(SendLog.outbox_id == letter_id).order_by(SendLog.id))]


@pytest.mark.parametrize(("server", "security"),
                         [("plain", "none"), ("starttls", "starttls"), ("ssl", "ssl")])
def test_letter_goes_out_through_each_security_mode(app, smtp, server, security):
    endpoint = getattr(smtp, server)
    with app.app_context():
        account_on(endpoint, security, auth="login")
        letter_id = send_mail(letter())
    assert endpoint.handler.received == []  # nothing is sent inside send_mail
    assert outbox(app, letter_id).status == "queued"
    assert drain(app) == 1
    [received] = endpoint.handler.received
    stored = outbox(app, letter_id)
    assert stored.status == "sent" and stored.attempts == 1
    assert str(received.message["Message-ID"]) == stored.message_id
    assert received.message["Subject"] == "Счёт №1"
    assert received.login == LOGIN
    assert attempts(app, letter_id) == [("sent", 1)]


def test_temporary_failure_is_retried_and_delivered_once(app, smtp):
    with app.app_context():
        account_on(smtp.flaky)
        letter_id = send_mail(letter())
    drain(app)
    assert len(message_ids(smtp.flaky.handler)) == 1
    assert outbox(app, letter_id).status == "sent"
    assert attempts(app, letter_id) == [("deferred", 1), ("sent", 2)]


def test_backoff_defers_the_retry(app, app_config, smtp):
    app.config.update(SMTP_RETRY_BASE_SECONDS=60, SMTP_RETRY_MAX_SECONDS=3600)
    with app.app_context():
        account_on(smtp.flaky)
        letter_id = send_mail(letter())
    drain(app)
    stored = outbox(app, letter_id)
    assert stored.status == "deferred"
    assert timedelta(seconds=47) < stored.next_attempt_at - utcnow() < timedelta(seconds=73)
    assert smtp.flaky.handler.received == []


def test_permanent_failure_fails_at_once_with_the_reply(app, smtp):
    with app.app_context():
        account_on(smtp.rejecting)
        letter_id = send_mail(letter())
    drain(app)
    stored = outbox(app, letter_id)
    assert stored.status == "failed" and stored.attempts == 1
    assert "550 5.7.1 Message rejected as spam" in stored.last_error
    assert attempts(app, letter_id) == [("failed", 1)]


def test_dropped_connection_mid_batch_loses_and_duplicates_nothing(app, smtp):
    with app.app_context():
        account_on(smtp.dropping)
        ids = [send_mail(letter(subject=f"Письмо {n}"), commit=False) for n in range(10)]
        db.session.commit()
    drain(app)
    received = message_ids(smtp.dropping.handler)
    assert len(received) == 10 and len(set(received)) == 10
    assert {outbox(app, i).status for i in ids} == {"sent"}


def test_one_connection_is_reused_for_many_letters(app, smtp):
    with app.app_context():
        account_on(smtp.plain)
        for n in range(5):
            send_mail(letter(subject=f"Письмо {n}"), commit=False)
        db.session.commit()
    drain(app)
    assert len(smtp.plain.handler.received) == 5
    assert len(smtp.plain.handler.ehlo_names) == 1


@dataclass
class StatusAtDataHandler(RecordingHandler):
    """Looks each letter up in the portal's database once its text has arrived, before
    answering: what a crash of the worker at that moment would leave behind."""

    database_uri: str = ""
    seen: list[str] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):
        message_id = str(message_from_bytes(envelope.content)["Message-ID"]).strip()
        engine = create_engine(self.database_uri)
        with engine.connect() as connection:
            self.seen.append(connection.scalar(select(OutboxMessage.status).where(
                OutboxMessage.message_id == message_id)))
        engine.dispose()
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def status_server(app_config, smtp):
    """A server that checks the outbox at every letter; the app is made to allow its port."""
    server = AioServer("status", StatusAtDataHandler(
        database_uri=app_config["SQLALCHEMY_DATABASE_URI"]))
    app_config["SMTP_ALLOW_PORTS"] = ",".join(map(str, [*smtp.ports, server.port]))
    yield server
    server.stop()


def test_letter_is_committed_as_sending_before_its_text_goes_out(status_server, app, smtp):
    with app.app_context():
        account_on(status_server.endpoint)
        for n in range(6):
            send_mail(letter(subject=f"Письмо {n}"), commit=False)
        db.session.commit()
    assert drain(app) == 6
    # Seen from another connection while the server held the letter: every one was already
    # «sending», so a worker dying then could never leave it to be sent a second time.
    assert status_server.handler.seen == ["sending"] * 6
    assert len(status_server.handler.ehlo_names) == 1


def test_letter_whose_claim_was_taken_over_is_left_alone(app, smtp):
    with app.app_context():
        account_on(smtp.plain)
        ids = [send_mail(letter(subject=f"Письмо {n}"), commit=False) for n in range(4)]
        db.session.commit()
        config = DeliveryConfig.from_app()
        letters = claim("first-worker", config)
        assert [row.id for row in letters] == ids
        # The first worker's lease ran out and another worker claimed the second letter.
        db.session.execute(update(OutboxMessage).where(OutboxMessage.id == ids[1])
                           .values(claimed_by="second-worker"))
        db.session.commit()
        worker = Worker(app, "first-worker", threading.Event())
        connections = Connections()
        books = Bookkeeping(app, "first-worker", config.lease_seconds)
        try:
            assert worker.send_batch(letters, config, connections, books) == 3
        finally:
            books.close()
            connections.close_all()
    subjects = sorted(str(r.message["Subject"]) for r in smtp.plain.handler.received)
    assert subjects == ["Письмо 0", "Письмо 2", "Письмо 3"]
    taken = outbox(app, ids[1])
    assert (taken.status, taken.claimed_by, taken.attempts) == ("queued", "second-worker", 0)
    assert attempts(app, ids[1]) == []
    assert {outbox(app, i).status for i in (ids[0], ids[2], ids[3])} == {"sent"}


def test_refused_recipient_is_recorded_per_recipient(app, smtp):
    with app.app_context():
        account_on(smtp.plain)
        letter_id = send_mail(letter(to="client@example.org, nobody@example.com"))
    drain(app)
    [received] = smtp.plain.handler.received
    assert received.rcpt_tos == ["client@example.org"]
    stored = outbox(app, letter_id)
    assert stored.status == "sent"
    assert "nobody@example.com: 550 5.1.1" in stored.refused_recipients


def test_bcc_goes_to_the_envelope_never_into_the_headers(app, smtp):
    with app.app_context():
        account_on(smtp.plain)
        send_mail(letter(Bcc="secret-boss@example.org"))
    drain(app)
    [received] = smtp.plain.handler.received
    assert received.rcpt_tos == ["client@example.org", "secret-boss@example.org"]
    assert received.message["Bcc"] is None
    assert b"secret-boss" not in received.content


def test_account_name_fills_a_letter_without_a_name(app, smtp):
    with app.app_context():
        account_on(smtp.plain)
        send_mail(letter(sender=LOGIN))
        send_mail(letter(sender=f"Своё имя <{LOGIN}>"))
    drain(app)
    senders = sorted(str(r.message["From"]) for r in smtp.plain.handler.received)
    assert senders == [f"Продажи <{LOGIN}>", f"Своё имя <{LOGIN}>"]


def test_letter_without_an_account_fails_clearly_and_can_be_retried(app, smtp):
    with app.app_context():
        letter_id = send_mail(letter())
    stored = outbox(app, letter_id)
    assert stored.status == "failed"
    assert stored.last_error.startswith(
        f"Не найден SMTP-аккаунт для отправителя Отдел продаж <{LOGIN}>")
    with app.app_context():
        with pytest.raises(SendRefused, match="Не найден SMTP-аккаунт"):
            retry_letter(db.session.get(OutboxMessage, letter_id))
        account_on(smtp.plain)
        retry_letter(db.session.get(OutboxMessage, letter_id))
        db.session.commit()
    drain(app)
    assert outbox(app, letter_id).status == "sent"
    assert len(smtp.plain.handler.received) == 1


def test_deactivated_account_reroutes_to_another(app, smtp):
    with app.app_context():
        first = account_on(smtp.rejecting)
        letter_id = send_mail(letter())
        first.active = False
        account_on(smtp.plain)
        db.session.commit()
    drain(app)
    assert outbox(app, letter_id).status == "sent"
    assert len(smtp.plain.handler.received) == 1


def test_running_worker_follows_an_edited_account(app, smtp):
    with app.app_context():
        account_id = account_on(smtp.plain).id
    stop = threading.Event()
    worker = threading.Thread(target=run_workers, args=(app, 1, False, stop))
    worker.start()
    try:
        with app.app_context():
            send_mail(letter(subject="до"))
        wait_for(lambda: len(smtp.plain.handler.received) == 1)
        with app.app_context():
            account = db.session.get(SmtpAccount, account_id)
            account.port, account.security = smtp.ssl.port, "ssl"
            account.auth, account.login, account.password = "login", LOGIN, USERS[LOGIN]
            db.session.commit()
        time.sleep(TRANSPORT_TTL + 0.5)  # a worker keeps what it loaded this long at most
        with app.app_context():
            send_mail(letter(subject="после"))
        wait_for(lambda: len(smtp.ssl.handler.received) == 1)
    finally:
        stop.set()
        worker.join(10)
    assert [str(r.message["Subject"]) for r in smtp.plain.handler.received] == ["до"]
    assert [str(r.message["Subject"]) for r in smtp.ssl.handler.received] == ["после"]


def test_account_whose_stored_settings_became_invalid_fails_its_letters_only(app, smtp):
    with app.app_context():
        account = account_on(smtp.plain)
        broken_id = send_mail(letter())
        account.auth = "login"  # with no login: what an old row or a hand edit can leave
        db.session.commit()
    assert drain(app) == 1
    stored = outbox(app, broken_id)
    assert stored.status == "failed"
    assert "Настройки SMTP отправителя неверны: Укажите логин." in stored.last_error
    assert smtp.plain.handler.received == []


def wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_module_switched_off_queues_nothing(app, smtp):
    with app.app_context():
        account_on(smtp.plain)
        save_module_settings(get_module_settings(), enabled=False)
        db.session.commit()
        with pytest.raises(SendRefused, match="выключен"):
            send_mail(letter())
        assert db.session.scalar(select(OutboxMessage.id)) is None


@pytest.mark.parametrize("make", [
    lambda: letter(subject="=?UTF-8?Q?Hi=0ABcc:_x@evil.example?="),
    lambda: letter(subject="=?UTF-8?Q?Hi=0D=0ARCPT_TO:<x@evil.example>?="),
    lambda: letter(sender="=?UTF-8?Q?=D0=98=D0=BC=D1=8F=E2=80=A8Bcc:_x@evil.example?= "
                          "<user@example.com>"),
    lambda: letter(to="alice@example.org)<bob@evil.example>"),
    lambda: letter(to='"alice@example.org" bob@evil.example'),
    lambda: letter(sender="user@example.com, other@example.com"),
    lambda: letter(sender="no address here"),
    lambda: letter(to=""),
    lambda: letter(subject="A" * 5000),
    lambda: letter(subject="=?UTF-8?Q?nul=00byte?="),
])
def test_hostile_letters_are_refused_and_never_reach_a_server(app, smtp, make):
    with app.app_context():
        account_on(smtp.plain)
        with pytest.raises(SendRefused) as refused:
            send_mail(make())
        assert refused.value.args[0]  # a Russian explanation
        assert db.session.scalar(select(OutboxMessage.id)) is None
    drain(app)
    assert smtp.plain.handler.received == []


@pytest.mark.parametrize("value", ["Hi\r\nBcc: x@evil.example", "Hi\nRCPT TO:<x@evil>",
                                   "Имя\u2028Bcc: x@evil.example"])
def test_email_library_refuses_raw_line_breaks_in_headers(value):
    with pytest.raises(ValueError):
        letter(subject=value)


def test_non_ascii_address_uses_smtputf8(app, smtp):
    with app.app_context():
        account_on(smtp.plain)
        send_mail(letter(to="получатель@почта.рф"))
    drain(app)
    [received] = smtp.plain.handler.received
    assert received.rcpt_tos == ["получатель@xn--80a1acny.xn--p1ai"]


def test_idn_domain_goes_out_as_punycode(app, smtp):
    with app.app_context():
        account_on(smtp.plain)
        send_mail(letter(to="client@почта.рф"))
    drain(app)
    assert smtp.plain.handler.received[0].rcpt_tos == ["client@xn--80a1acny.xn--p1ai"]


def test_unreachable_server_defers_every_letter_without_waiting_per_letter(app, smtp):
    app.config.update(SMTP_RETRY_BASE_SECONDS=60, SMTP_RETRY_MAX_SECONDS=3600)
    with app.app_context():
        account_on(smtp.closed)
        ids = [send_mail(letter(subject=str(n)), commit=False) for n in range(3)]
        db.session.commit()
    drain(app)
    stored = [outbox(app, i) for i in ids]
    assert {s.status for s in stored} == {"deferred"}, stored[0].last_error
    assert "Не удалось подключиться" in stored[0].last_error


def test_attempts_run_out(app, smtp):
    app.config.update(SMTP_MAX_ATTEMPTS=3)
    with app.app_context():
        account_on(smtp.closed)
        letter_id = send_mail(letter())
    drain(app)
    stored = outbox(app, letter_id)
    assert stored.status == "failed" and stored.attempts == 3
    assert "Исчерпано число попыток (3)" in stored.last_error


def test_expired_lease_in_sending_is_failed_as_possibly_sent(app, smtp):
    with app.app_context():
        account_on(smtp.plain)
        letter_id = send_mail(letter())
        db.session.execute(update(OutboxMessage).values(
            status="sending", claimed_by="dead-worker", attempts=1,
            lease_until=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        assert recover_expired() == 1
        db.session.commit()
    stored = outbox(app, letter_id)
    assert stored.status == "failed" and "могло быть доставлено" in stored.last_error
    assert attempts(app, letter_id)[-1][0] == "possibly_sent"
    drain(app)
    assert smtp.plain.handler.received == []  # never sent twice on its own


def test_expired_claim_before_sending_is_picked_up_again(app, smtp):
    with app.app_context():
        account_on(smtp.plain)
        letter_id = send_mail(letter())
        db.session.execute(update(OutboxMessage).values(
            claimed_by="dead-worker", lease_until=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    drain(app)
    assert outbox(app, letter_id).status == "sent"


def test_retention_removes_old_logs_and_letters(app, smtp):
    with app.app_context():
        account_on(smtp.plain)
        old_id = send_mail(letter(subject="старое"))
        new_id = send_mail(letter(subject="новое"))
    drain(app)
    with app.app_context():
        long_ago = utcnow() - timedelta(days=31)
        db.session.execute(update(OutboxMessage).where(OutboxMessage.id == old_id)
                           .values(created_at=long_ago))
        db.session.execute(update(SendLog).where(SendLog.outbox_id == old_id)
                           .values(attempted_at=long_ago))
        assert apply_retention() >= 2
        db.session.commit()
        remaining = db.session.scalars(select(OutboxMessage.id)).all()
    assert remaining == [new_id]


def test_graceful_stop_finishes_the_letter_in_flight(app, smtp):
    with app.app_context():
        account_on(smtp.slow)
        ids = [send_mail(letter(subject=str(n)), commit=False) for n in range(6)]
        db.session.commit()
    stop = threading.Event()
    worker = threading.Thread(target=run_workers, args=(app, 1, False, stop))
    worker.start()
    while not smtp.slow.handler.received:
        threading.Event().wait(0.02)
    stop.set()
    worker.join(10)
    assert not worker.is_alive()
    statuses = Counter(outbox(app, i).status for i in ids)
    delivered = len(message_ids(smtp.slow.handler))
    assert statuses["sent"] == delivered >= 1
    assert statuses["queued"] == 6 - delivered
    assert statuses["sending"] == 0
    with app.app_context():
        assert db.session.scalar(select(OutboxMessage.id).where(
            OutboxMessage.claimed_by.is_not(None))) is None
