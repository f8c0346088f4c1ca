# ruff: noqa: I001  (the repository root goes on sys.path before the project imports)
"""Benchmark: queue-to-server latency of a single letter with an idle worker (SPEC §17).

On PostgreSQL a queued letter wakes an idle worker (LISTEN/NOTIFY); the baseline, measured in
the same run, is the same worker polling every SMTP_WORKER_IDLE_SECONDS (2 s). Each letter is
queued with ``send_mail`` (committed) once the previous one reached the sink and the worker
went idle again; the latency runs from the commit to the sink taking the letter.
Goal (issue «Operations»): median ≤ 50 ms, p99 ≤ 250 ms over 200 letters.

    .venv/bin/python bench/bench_latency.py --postgres postgresql+psycopg://root@127.0.0.1:5432/postgres
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.certs import make_certificates

from portal_smtp import send_mail
from portal_smtp.extensions import db
from portal_smtp.worker import loop, run_workers

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_outbox import add_accounts, build_letter, make_app
from fresh_databases import Databases


class Polling:
    """The baseline: an idle worker that only looks again after its idle interval."""

    def __init__(self, engine) -> None:
        pass

    def wait(self, timeout: float, stop: threading.Event) -> bool:
        return stop.wait(timeout)

    def close(self) -> None:
        pass


def latencies(app, sink, senders: list[str], letters: int) -> list[float]:
    """Milliseconds from commit to receipt, one letter at a time, the worker idle between."""
    stop = threading.Event()
    worker = threading.Thread(target=run_workers, args=(app,), kwargs={"stop": stop})
    worker.start()
    times = []
    try:
        time.sleep(1.0)
        with app.app_context():
            for n in range(letters):
                time.sleep(0.05)  # the worker finishes its batch and goes idle
                send_mail(build_letter(n, senders[0]))
                queued = time.monotonic()
                received = float(sink.stdout.readline())
                times.append((received - queued) * 1000)
            db.session.remove()
    finally:
        stop.set()
        worker.join(30)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", required=True, help="a PostgreSQL server's URL")
    parser.add_argument("--letters", type=int, default=200)
    parser.add_argument("--baseline-letters", type=int, default=40)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    certs = make_certificates(folder)
    os.environ["SSL_CERT_FILE"] = certs["ca"]
    sink = subprocess.Popen([sys.executable, str(Path(__file__).with_name("smtp_sink.py")),
                             certs["server_cert"], certs["server_key"], "--announce"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    port = int(sink.stdout.readline())
    databases = Databases(folder, args.postgres, "bench_latency")
    try:
        app = make_app(databases.uri("wake"), folder / "wake", [port], batch=20)
        app.config["SMTP_WORKER_IDLE_SECONDS"] = 2.0
        senders = add_accounts(app, [port])
        woken = latencies(app, sink, senders, args.letters)
        original, loop.Wakeup = loop.Wakeup, Polling
        try:
            polled = latencies(app, sink, senders, args.baseline_letters)
        finally:
            loop.Wakeup = original
        with app.app_context():
            db.engine.dispose()
    finally:
        sink.stdin.close()
        sink.wait(10)
        databases.drop_all()

    def p99(values: list[float]) -> float:
        return sorted(values)[max(0, int(len(values) * 0.99) - 1)]

    print("\nQueue-to-server latency on PostgreSQL, one letter at a time, idle worker "
          "(implicit TLS + AUTH, loopback sink)")
    print(f"woken by NOTIFY ({len(woken)} letters)   median {statistics.median(woken):7.1f} ms"
          f"   p99 {p99(woken):7.1f} ms   (goal ≤ 50 / ≤ 250)")
    print(f"polling every 2 s ({len(polled)} letters) median {statistics.median(polled):7.1f} ms"
          f"   p99 {p99(polled):7.1f} ms")
    ratio = statistics.median(woken) / statistics.median(polled)
    print(f"  ratio of medians (woken / polled)  {ratio:7.3f}")


if __name__ == "__main__":
    main()
