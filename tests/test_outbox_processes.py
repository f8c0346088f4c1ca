"""Workers as separate processes (``flask smtp worker``): killed mid-batch, stopped with
SIGTERM, and several draining one outbox together (PostgreSQL when the suite runs on it)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal_smtp import send_mail
from portal_smtp.extensions import db
from portal_smtp.models import OutboxMessage

from .factories import make_account
from .servers import message_ids
from .test_outbox import letter, wait_for

ROOT = Path(__file__).resolve().parent.parent


def worker_env(app, smtp, **extra) -> dict[str, str]:
    config = app.config
    env = dict(os.environ)
    env.update({
        "FLASK_APP": "wsgi", "PORTAL_ENV": "testing",
        "PORTAL_SQLALCHEMY_DATABASE_URI": config["SQLALCHEMY_DATABASE_URI"],
        "PORTAL_SECRET_KEY": config["SECRET_KEY"], "PORTAL_SMTP_KEYS": config["SMTP_KEYS"],
        "PORTAL_SMTP_ALLOW_HOSTS": "127.0.0.1",
        "PORTAL_SMTP_ALLOW_PORTS": ",".join(map(str, smtp.ports)),
        "PORTAL_SMTP_WORKER_IDLE_SECONDS": "0.1", "PORTAL_SMTP_RETRY_BASE_SECONDS": "0",
        "PORTAL_SMTP_RETRY_MAX_SECONDS": "0",
    })
    env.update({key: str(value) for key, value in extra.items()})
    return env


def start_worker(env, *args) -> subprocess.Popen:
    flask = Path(sys.executable).with_name("flask")
    return subprocess.Popen([str(flask), "smtp", "worker", *args], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def kill(worker: subprocess.Popen) -> None:
    worker.send_signal(signal.SIGKILL)
    worker.communicate(timeout=10)


def statuses(app) -> Counter:
    with app.app_context():
        return Counter(dict(db.session.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()))


def queue(app, endpoint, count: int) -> None:
    with app.app_context():
        make_account("user@example.com", "Продажи", host=endpoint.host, port=endpoint.port,
                     security="none", auth="none", login="")
        for n in range(count):
            send_mail(letter(subject=f"Письмо {n}"), commit=False)
        db.session.commit()


def test_killed_worker_leaves_nothing_lost_and_nothing_twice(app, smtp):
    queue(app, smtp.slow, 12)
    env = worker_env(app, smtp, PORTAL_SMTP_LEASE_SECONDS=2)
    victim = start_worker(env)
    wait_for(lambda: len(smtp.slow.handler.received) >= 3, 30)
    kill(victim)
    time.sleep(2.5)  # let the dead worker's leases expire
    survivor = start_worker(env, "--once")
    _, errors = survivor.communicate(timeout=60)
    assert survivor.returncode == 0, errors
    time.sleep(0.4)  # the server finishes its last reply
    received = message_ids(smtp.slow.handler)
    assert len(received) == len(set(received)), "a letter arrived twice"
    counts = statuses(app)
    # The letter that was on the wire when the worker died is never resent blindly:
    # it is failed as «возможно, отправлено»; every other letter is delivered.
    assert counts["sent"] + counts["failed"] == 12 and counts["failed"] <= 1
    assert len(received) >= counts["sent"]


def test_sigterm_finishes_the_letter_in_flight_then_exits(app, smtp):
    queue(app, smtp.slow, 8)
    worker = start_worker(worker_env(app, smtp))
    wait_for(lambda: len(smtp.slow.handler.received) >= 2, 30)
    worker.send_signal(signal.SIGTERM)
    output, _ = worker.communicate(timeout=20)
    assert worker.returncode == 0
    assert "Обработано писем:" in output
    counts = statuses(app)
    assert counts["sending"] == 0
    assert counts["sent"] == len(message_ids(smtp.slow.handler))
    assert counts["sent"] + counts["queued"] == 8


def test_several_workers_drain_one_outbox_exactly_once(app, smtp, database_uri):
    postgres = database_uri.startswith("postgresql")
    total, processes = (5000, 4) if postgres else (600, 2)
    queue(app, smtp.plain, total)
    env = worker_env(app, smtp, PORTAL_SMTP_WORKER_BATCH=50)
    workers = [start_worker(env, "--once") for _ in range(processes)]
    for worker in workers:
        _, errors = worker.communicate(timeout=600)
        assert worker.returncode == 0, errors
    received = message_ids(smtp.plain.handler)
    assert len(received) == total
    assert len(set(received)) == total
    assert statuses(app) == Counter(sent=total)


@pytest.mark.parametrize("status", ["queued", "sent"])
def test_cli_send_worker_and_logs(app, runner, smtp, status):
    import json

    with app.app_context():
        make_account("user@example.com", "Продажи", host="127.0.0.1", port=smtp.plain.port,
                     security="none", auth="none", login="")
    sent = runner.invoke(args=["smtp", "send", "--from", "user@example.com", "--to",
                               "a@example.org", "--to", "b@example.org", "--subject",
                               "Привет", "--body", "Текст письма"])
    assert sent.exit_code == 0, sent.output
    letter_id = int(sent.output.strip())
    if status == "sent":
        done = runner.invoke(args=["smtp", "worker", "--once"])
        assert "Обработано писем: 1." in done.output
    rows = json.loads(runner.invoke(args=["smtp", "logs", "--json", "--status", status]).output)
    [row] = rows
    assert {"id", "status", "from", "to", "subject", "account", "attempts", "error"} <= set(row)
    assert (row["id"], row["status"], row["to"]) == (letter_id, status,
                                                      ["a@example.org", "b@example.org"])
    assert row["attempts"] == (1 if status == "sent" else 0)
    assert "Продажи" in row["account"]


def test_cli_send_refuses_bad_input_in_russian(runner):
    result = runner.invoke(args=["smtp", "send", "--from", "not an address", "--to",
                                 "a@example.org", "--subject", "x", "--body", "y"])
    assert result.exit_code == 1
    assert "Некорректный адрес в поле From" in result.output
