"""Per-sender limits and pacing (SPEC §17) against real SMTP servers, on an injectable clock:
rolling windows, letters cut into several transactions, limit replies that pause a sender,
and counts shared by two worker processes."""
from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from portal_smtp import send_mail
from portal_smtp.extensions import db
from portal_smtp.models import OutboxMessage, SenderState, SendLog, SendUsage, SmtpAccount
from portal_smtp.services.limits import Limits, is_limit_reply, limits_of
from portal_smtp.timeutil import utcnow
from portal_smtp.worker import run_workers

from .factories import make_account
from .servers import AioServer, RecordingHandler, message_ids
from .test_outbox import letter
from .test_outbox_processes import start_worker, worker_env

SENDER = "sales@example.com"


class LimitedServer(RecordingHandler):
    """A server that can say «rate limit» at MAIL FROM, and hang up at one recipient."""

    def __init__(self) -> None:
        super().__init__()
        self.limit_reply: str | None = None
        self.hang_up_at: str | None = None
        self.transactions: list[list[str]] = []

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.limit_reply:
            return self.limit_reply
        return await super().handle_MAIL(server, session, envelope, address, mail_options)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == self.hang_up_at:
            server.transport.close()
            return "421 4.4.2 Connection dropped"
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server, session, envelope):
        self.transactions.append(list(envelope.rcpt_tos))
        return await super().handle_DATA(server, session, envelope)

    def clear(self) -> None:
        super().clear()
        self.limit_reply = self.hang_up_at = None
        self.transactions.clear()


@pytest.fixture(scope="module")
def limited():
    server = AioServer("limited", LimitedServer())
    yield server
    server.stop()


@pytest.fixture
def server(limited):
    limited.handler.clear()
    yield limited
    limited.handler.clear()


@pytest.fixture
def app_config(app_config, limited):
    app_config.update(SMTP_ALLOW_PORTS=str(limited.port))
    return app_config


class Clock:
    """The worker's time, moved by the test."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def account(server, **limits) -> int:
    record = make_account(SENDER, "Продажи", host="127.0.0.1", port=server.port,
                          security="none", auth="none", login="", commit=False)
    for name, value in limits.items():
        setattr(record, name, value)
    db.session.commit()
    return record.id


def queue(count: int, to: str = "client@example.org") -> list[int]:
    ids = [send_mail(letter(sender=f"Продажи <{SENDER}>", to=to, subject=f"Письмо {n}"),
                     commit=False) for n in range(count)]
    db.session.commit()
    return ids


def test_pacing_keeps_every_window_within_the_limit_without_spending_attempts(app, server):
    with app.app_context():
        account(server, limit_minute=60)
        ids = queue(200)
    clock = Clock()
    per_run = []
    for _ in range(5):
        before = len(server.handler.received)
        run_workers(app, once=True, clock=clock)
        per_run.append(len(server.handler.received) - before)
        clock.advance(61)
    assert per_run == [60, 60, 60, 20, 0]
    with app.app_context():
        letters = db.session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids)))
        assert {(row.status, row.attempts) for row in letters} == {("sent", 1)}
        usage = db.session.execute(select(SendUsage.used_at, SendUsage.recipients)).all()
        assert sum(count for _, count in usage) == 200
        # Every rolling minute of the worker's clock holds at most 60 recipients.
        for start, _ in usage:
            assert sum(count for moment, count in usage
                       if start <= moment < start + timedelta(seconds=60)) <= 60
        assert db.session.scalar(select(func.count()).select_from(SendLog)) == 200


def test_a_waiting_letter_says_why_and_when(app, server):
    with app.app_context():
        account(server, limit_hour=2)
        ids = queue(3)
    clock = Clock()
    run_workers(app, once=True, clock=clock)
    with app.app_context():
        waiting = db.session.get(OutboxMessage, ids[2])
        assert (waiting.status, waiting.attempts) == ("queued", 0)
        assert "Ждёт окна лимита отправителя (2 в час)" in waiting.last_error
        assert clock.now + timedelta(minutes=59) < waiting.next_attempt_at \
            <= clock.now + timedelta(hours=1, seconds=1)
        assert db.session.scalar(select(func.count()).select_from(SendLog)
                                 .where(SendLog.outbox_id == ids[2])) == 0


def test_a_letter_over_its_per_letter_limit_goes_out_as_several_transactions(app, server):
    recipients = [f"client{n}@example.org" for n in range(5)]
    with app.app_context():
        account(server, limit_letter=2)
        (letter_id,) = queue(1, to=", ".join(recipients))
    run_workers(app, once=True, clock=Clock())
    assert server.handler.transactions == [recipients[:2], recipients[2:4], recipients[4:]]
    assert len(set(message_ids(server.handler))) == 1  # the same letter each time
    with app.app_context():
        sent = db.session.get(OutboxMessage, letter_id)
        assert (sent.status, sent.attempts) == ("sent", 1)
        assert sent.done_recipients.splitlines() == recipients


def test_a_drop_in_the_second_transaction_defers_only_its_recipients(app, server):
    recipients = [f"client{n}@example.org" for n in range(5)]
    with app.app_context():
        account(server, limit_letter=2)
        (letter_id,) = queue(1, to=", ".join(recipients))
    server.handler.hang_up_at = recipients[3]
    clock = Clock()
    run_workers(app, once=True, clock=clock)
    with app.app_context():
        deferred = db.session.get(OutboxMessage, letter_id)
        assert deferred.status == "deferred", deferred.last_error
        assert deferred.done_recipients.splitlines() == recipients[:2]
        assert "Письмо уже отправлено получателям: client0@example.org, client1@example.org" \
            in deferred.last_error
    server.handler.hang_up_at = None
    clock.advance(60)
    run_workers(app, once=True, clock=clock)
    assert server.handler.transactions == [recipients[:2], recipients[2:4], recipients[4:]]
    with app.app_context():
        assert db.session.get(OutboxMessage, letter_id).status == "sent"


@pytest.mark.parametrize("reply", [
    "451 4.7.1 Too many messages, rate limit exceeded",
    "550 5.4.5 Daily user sending quota exceeded",
])
def test_a_limit_reply_pauses_the_sender_without_spending_attempts(app, server, reply):
    with app.app_context():
        account(server)  # no limits configured: the pause is SMTP_LIMIT_PAUSE_SECONDS
        ids = queue(3)
    server.handler.limit_reply = reply
    clock = Clock()
    run_workers(app, once=True, clock=clock)
    with app.app_context():
        letters = [db.session.get(OutboxMessage, i) for i in ids]
        assert [(row.status, row.attempts) for row in letters] == [("queued", 0)] * 3
        assert {row.next_attempt_at for row in letters} == {clock.now + timedelta(seconds=900)}
        assert "превышении лимита" in letters[0].last_error
        state = db.session.scalar(select(SenderState))
        assert state.paused_until == clock.now + timedelta(seconds=900)
        logged = db.session.scalars(select(SendLog.status)).all()
        assert logged == ["deferred"]  # the letter that met the reply; the others just wait
    server.handler.limit_reply = None
    clock.advance(600)
    run_workers(app, once=True, clock=clock)
    assert server.handler.received == []  # still paused
    clock.advance(301)
    run_workers(app, once=True, clock=clock)
    assert len(server.handler.received) == 3
    with app.app_context():
        assert {db.session.get(OutboxMessage, i).attempts for i in ids} == {1}


def test_with_limits_the_pause_lasts_the_shortest_window(app, server):
    with app.app_context():
        account(server, limit_hour=1000, limit_day=5000)
        (letter_id,) = queue(1)
    server.handler.limit_reply = "452 4.5.3 Too many recipients this hour"
    clock = Clock()
    run_workers(app, once=True, clock=clock)
    with app.app_context():
        waiting = db.session.get(OutboxMessage, letter_id)
        assert waiting.next_attempt_at == clock.now + timedelta(hours=1)


def test_a_letter_larger_than_a_whole_window_fails_with_the_reason(app, server):
    with app.app_context():
        account(server, limit_minute=3)
        (letter_id,) = queue(1, to=", ".join(f"c{n}@example.org" for n in range(5)))
    run_workers(app, once=True, clock=Clock())
    assert server.handler.received == []
    with app.app_context():
        failed = db.session.get(OutboxMessage, letter_id)
        assert failed.status == "failed"
        assert "лимит отправителя — 3 в минуту" in failed.last_error


def test_limits_come_from_the_provider_where_the_sender_has_none(app, server):
    from portal_smtp.models import MailProvider, MailProviderDomain

    with app.app_context():
        provider = MailProvider(name="Пример", imap_host="imap.example.com", imap_port=993,
                                imap_security="ssl", smtp_host="smtp.example.com",
                                smtp_port=465, smtp_security="ssl", limit_day=500,
                                limit_letter=50)
        provider.domains.append(MailProviderDomain(domain="example.com"))
        db.session.add(provider)
        account_id = account(server, limit_letter=10)
        limits = limits_of("account", db.session.get(SmtpAccount, account_id))
        assert limits == Limits(minute=None, hour=None, day=500, letter=10)


def test_limit_replies_are_told_from_other_refusals():
    assert is_limit_reply(451, "4.7.0 Rate limit exceeded")
    assert is_limit_reply(550, "5.4.5 Daily sending quota exceeded")
    assert is_limit_reply(421, "Превышен лимит отправки")
    assert not is_limit_reply(550, "5.1.1 No such user here")
    assert not is_limit_reply(451, "4.3.0 Temporary local problem")
    assert not is_limit_reply(250, "rate")


def test_two_worker_processes_share_one_window(app, server):
    with app.app_context():
        account(server, limit_minute=10)
        queue(30)

    env = worker_env(app, SimpleNamespace(ports=[server.port]), PORTAL_SMTP_WORKER_BATCH=4)
    workers = [start_worker(env, "--once") for _ in range(2)]
    for worker in workers:
        _, errors = worker.communicate(timeout=120)
        assert worker.returncode == 0, errors
    assert len(server.handler.received) == 10
    with app.app_context():
        assert db.session.scalar(select(func.sum(SendUsage.recipients))) == 10
        waiting = db.session.scalars(select(OutboxMessage).where(
            OutboxMessage.status == "queued")).all()
        assert len(waiting) == 20
        first = db.session.scalar(select(func.min(SendUsage.used_at)))
        assert all(row.next_attempt_at > first + timedelta(seconds=59) for row in waiting)
        assert {row.attempts for row in waiting} == {0}
