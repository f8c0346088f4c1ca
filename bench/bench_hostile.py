"""Benchmark: memory of checks against hostile servers (issue «Hardening», item 5; SPEC §15).

An SMTP server that answers EHLO with an endless ``250-`` reply, and IMAP servers that send
an endless stream of responses or announce a literal of almost a gigabyte, all on loopback.
Each kind of check runs N times in a child process of its own; the child's peak RSS is
compared with a baseline child that ran the same number of checks against a well-behaved
server of the same protocol in the same run. Bounded replies: every ratio near 1.0 (the
portal grew from 84 MB to 2.1 GB in four such checks before replies were bounded).

    .venv/bin/python bench/bench_hostile.py [--checks 4] [--timeout 5]
"""
from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.servers import (
    HostileSmtp,
    ScriptedServer,
    endless_line,
    endless_reply,
    imap_endless_line,
    imap_endless_lines,
    imap_huge_literal,
)

ROOT = Path(__file__).resolve().parent.parent

#: Runs in the child: N checks of one kind against one port, then its own peak RSS (KiB).
CHILD = """
import resource, sys, time
from portal_smtp.smtp import NetworkPolicy, SmtpSettings, check
from portal_smtp.smtp.imap import check_imap

protocol, port, checks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
timeout = float(sys.argv[4])
policy = NetworkPolicy.from_entries(allow=["127.0.0.1"], extra_ports=[port])
settings = SmtpSettings(host="127.0.0.1", port=port, security="none", auth="login",
                        login="user@example.com", password="bench-password", timeout=timeout)
codes = set()
started = time.monotonic()
for _ in range(checks):
    if protocol == "smtp":
        result = check(settings, sender="user@example.com", policy=policy)
    else:
        result = check_imap(settings, policy=policy)
    codes.add(result.code)
elapsed = time.monotonic() - started
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, elapsed, ",".join(sorted(codes)))
"""


def imap_well_behaved(conn: socket.socket, stopping: threading.Event) -> None:
    """A tiny IMAP server that accepts any LOGIN (the baseline)."""
    conn.sendall(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] bench ready\r\n")
    reader = conn.makefile("rb")
    while not stopping.is_set():
        line = reader.readline(65536)
        if not line:
            return
        tag, _, rest = line.strip().partition(b" ")
        command = rest.split(b" ", 1)[0].upper()
        if command == b"CAPABILITY":
            conn.sendall(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n" + tag + b" OK done\r\n")
        elif command == b"AUTHENTICATE":
            conn.sendall(b"+ \r\n")
            reader.readline(65536)
            conn.sendall(tag + b" OK logged in\r\n")
        elif command == b"LOGOUT":
            conn.sendall(b"* BYE bench\r\n" + tag + b" OK bye\r\n")
            return
        else:
            conn.sendall(tag + b" BAD unknown\r\n")


def child_peak(protocol: str, port: int, checks: int, timeout: float) -> tuple[int, float, str]:
    """Run ``checks`` checks in a fresh child; its peak RSS (KiB), seconds and result codes."""
    output = subprocess.run([sys.executable, "-c", CHILD, protocol, str(port), str(checks),
                             str(timeout)], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.split()
    return int(output[0]), float(output[1]), output[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=4, help="checks per child")
    parser.add_argument("--timeout", type=float, default=5.0, help="each check's timeout, s")
    args = parser.parse_args()

    servers = {
        ("smtp", "well-behaved (baseline)"): ScriptedServer(HostileSmtp()),
        ("smtp", "endless 250- reply to EHLO"): ScriptedServer(HostileSmtp(ehlo=endless_reply)),
        ("smtp", "endless line, no newline"): ScriptedServer(HostileSmtp(greeting=endless_line)),
        ("imap", "well-behaved (baseline)"): ScriptedServer(imap_well_behaved),
        ("imap", "endless untagged lines"): ScriptedServer(imap_endless_lines),
        ("imap", "endless line, no newline"): ScriptedServer(imap_endless_line),
        ("imap", "literal {999999999}"): ScriptedServer(imap_huge_literal),
    }
    try:
        time.sleep(0.1)
        figures = {key: child_peak(key[0], server.port, args.checks, args.timeout)
                   for key, server in servers.items()}
    finally:
        for server in servers.values():
            server.stop()

    print(f"\nPeak RSS of a child running {args.checks} checks (timeout {args.timeout:g} s), "
          "loopback, same run")
    for protocol in ("smtp", "imap"):
        baseline = figures[(protocol, "well-behaved (baseline)")][0]
        for (kind, name), (rss, elapsed, codes) in figures.items():
            if kind != protocol:
                continue
            print(f"{protocol.upper():5}{name:30}{rss / 1024:8.1f} MiB  ratio {rss / baseline:5.2f}"
                  f"  {elapsed:5.1f} s  codes: {codes}")
    print("Bounded: every ratio near 1.0.")


if __name__ == "__main__":
    main()
