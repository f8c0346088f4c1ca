
"""Benchmark: «Состояние отправки» with 100,000 letters in the log against the accounts list
of the same portal, measured in the same run (SPEC §17; goal: the status page renders in
under 2× the accounts list's time).

    .venv/bin/python bench/bench_status.py [--letters 100000] [--postgres URL]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_accounts import _analyze, build_app, fill
from fresh_databases import Databases

from portal_smtp.extensions import db
from portal_smtp.models import HourlyStats, OutboxMessage, SendLog, SmtpAccount, WorkerHeartbeat
from portal_smtp.timeutil import utcnow

ROUNDS = 40


def fill_log(app, letters: int) -> None:
    """``letters`` letters over the last two days (2% failed, 50 waiting), one log entry each,
    and the hourly figures the worker would have written."""
    now = utcnow()
    with app.app_context():
        accounts = db.session.scalars(select(SmtpAccount.id).limit(100)).all()
        for start in range(0, letters, 5000):
            rows, logs = [], []
            for n in range(start, min(letters, start + 5000)):
                at = now - timedelta(seconds=(n * 172800) // letters)
                status = "queued" if n < 50 else "failed" if n % 50 == 0 else "sent"
                rows.append({
                    "id": n + 1, "created_at": at, "status": status, "mailing": False,
                    "from_header": "Рассылка <news@example.com>",
                    "envelope_from": "news@example.com",
                    "recipients": f"client{n}@example.org", "subject": f"Письмо {n}",
                    "message_id": f"<bench-{n}@example.com>", "raw": b"x" * 200,
                    "transport_type": "account", "transport_id": accounts[n % len(accounts)],
                    "sender_type": "", "attempts": 1, "next_attempt_at": at,
                    "last_reply": "250 OK", "last_error": "", "refused_recipients": "",
                    "done_recipients": "", "sent_at": at if status == "sent" else None})
                if status != "queued":
                    logs.append({"outbox_id": n + 1, "attempted_at": at, "attempt": 1,
                                 "status": status, "transport_type": "account",
                                 "transport_id": rows[-1]["transport_id"],
                                 "account_label": "news@example.com — smtp.example.com",
                                 "server_reply": "250 OK", "error": "", "duration_ms": 90})
            db.session.execute(insert(OutboxMessage), rows)
            db.session.execute(insert(SendLog), logs)
        hour = now.replace(minute=0, second=0, microsecond=0)
        db.session.execute(insert(HourlyStats), [
            {"hour": hour - timedelta(hours=h), "transport_type": "account",
             "transport_id": account, "sent": 20, "failed": 1, "deferred": 0,
             "duration_ms": 2000} for h in range(48) for account in accounts])
        db.session.add(WorkerHeartbeat(name="bench:1:0", started_at=now, heartbeat_at=now,
                                       processed=letters, state="idle"))
        db.session.commit()
        _analyze()


def timings(client, url: str) -> float:
    started = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.status_code
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=100_000)
    parser.add_argument("--postgres", help="run on a fresh database of this PostgreSQL server")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-status-"))
    databases = Databases(folder, args.postgres, "bench_status")
    try:
        app = build_app(databases.uri("status"), folder / "status")
        fill(app, 1000)
        fill_log(app, args.letters)
        client = app.test_client()
        client.post("/login", data={"username": "admin", "password": "bench-admin"})
        pages = {"accounts": "/admin/smtp/accounts", "status": "/admin/smtp/status"}
        for url in pages.values():  # warm-up
            for _ in range(5):
                timings(client, url)
        samples: dict[str, list[float]] = {name: [] for name in pages}
        for _ in range(ROUNDS):  # interleaved
            for name, url in pages.items():
                samples[name].append(timings(client, url))
        with app.app_context():
            db.engine.dispose()
    finally:
        databases.drop_all()
    accounts, status = (statistics.median(samples[k]) * 1000 for k in ("accounts", "status"))
    print(f"\n{databases.engine}: {args.letters:,} letters in the log, 1,000 accounts, "
          f"median of {ROUNDS} interleaved requests")
    print(f"accounts list (page 1)        {accounts:8.2f} ms")
    print(f"«Состояние отправки»          {status:8.2f} ms")
    print(f"  ratio (goal < 2.0)          {status / accounts:8.2f}")


if __name__ == "__main__":
    main()
