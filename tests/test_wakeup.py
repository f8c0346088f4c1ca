"""An idle worker is woken by a queued letter on PostgreSQL (LISTEN/NOTIFY) and polls on
SQLite (SPEC §17). Each test checks what the suite's database does."""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from portal_smtp import send_mail
from portal_smtp.extensions import db
from portal_smtp.worker import run_workers
from portal_smtp.worker.wakeup import Wakeup

from .factories import make_account
from .test_outbox import letter, wait_for


@pytest.fixture
def postgres(database_uri) -> bool:
    return database_uri.startswith("postgresql")


def waiting(wakeup: Wakeup, timeout: float, stop: threading.Event) -> dict:
    """Start ``wakeup.wait`` in a thread; the dict gets its result."""
    outcome: dict = {}
    thread = threading.Thread(target=lambda: outcome.update(woken=wakeup.wait(timeout, stop)))
    thread.start()
    outcome["thread"] = thread
    return outcome


def queue_one(app, subject: str = "Письмо", commit: bool = True) -> None:
    with app.app_context():
        send_mail(letter(subject=subject), commit=False)
        if commit:
            db.session.commit()
        else:
            db.session.rollback()


@pytest.fixture
def account(app):
    with app.app_context():
        make_account("user@example.com")


def test_a_committed_letter_wakes_an_idle_worker(app, account, postgres):
    with app.app_context():
        wakeup = Wakeup(db.engine)
        stop = threading.Event()
        try:
            if not postgres:  # SQLite: the worker polls
                started = time.monotonic()
                assert wakeup.wait(0.2, stop) is False
                assert time.monotonic() - started >= 0.2
                return
            wakeup.wait(0.01, stop)  # starts listening
            outcome = waiting(wakeup, 30, stop)
            queue_one(app)
            outcome["thread"].join(10)
            assert outcome == {"thread": outcome["thread"], "woken": True}
        finally:
            wakeup.close()


def test_a_rolled_back_letter_wakes_nobody_and_a_burst_wakes_once(app, account, postgres):
    with app.app_context():
        wakeup = Wakeup(db.engine)
        stop = threading.Event()
        try:
            wakeup.wait(0.01, stop)
            queue_one(app, commit=False)
            assert wakeup.wait(0.5, stop) is False
            with app.app_context():
                for n in range(50):
                    send_mail(letter(subject=f"Письмо {n}"))
            # PostgreSQL wakes at once; SQLite has nothing to wake it (the worker polls).
            assert wakeup.wait(5 if postgres else 0.3, stop) is postgres
            assert wakeup.wait(0.3, stop) is False  # the burst was taken in one wake
        finally:
            wakeup.close()


def test_stop_ends_the_wait_and_a_lost_connection_is_survived(app, account, postgres):
    with app.app_context():
        wakeup = Wakeup(db.engine)
        stop = threading.Event()
        try:
            wakeup.wait(0.01, stop)
            outcome = waiting(wakeup, 60, stop)
            stop.set()
            outcome["thread"].join(5)
            assert outcome["woken"] is True
            if postgres:
                stop.clear()
                pid = wakeup._connection.info.backend_pid
                db.session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                db.session.commit()
                assert wakeup.wait(0.3, stop) is False  # polled instead, no exception
                wakeup.wait(0.01, stop)  # listening again
                outcome = waiting(wakeup, 30, stop)
                queue_one(app)
                outcome["thread"].join(10)
                assert outcome["woken"] is True
        finally:
            wakeup.close()


def test_a_running_worker_sends_a_new_letter_before_its_next_poll(app, smtp, postgres):
    app.config["SMTP_WORKER_IDLE_SECONDS"] = 60 if postgres else 0.2
    with app.app_context():
        make_account("user@example.com", host="127.0.0.1", port=smtp.plain.port,
                     security="none", auth="none", login="")
    stop = threading.Event()
    worker = threading.Thread(target=run_workers, args=(app,), kwargs={"stop": stop})
    worker.start()
    try:
        time.sleep(0.5)  # the worker found nothing and went idle
        before = len(smtp.plain.handler.received)
        with app.app_context():
            send_mail(letter(subject="Срочно"))
        wait_for(lambda: len(smtp.plain.handler.received) > before, 10)
    finally:
        stop.set()
        worker.join(30)
