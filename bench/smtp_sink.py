"""A loopback SMTP sink for the benchmarks: implicit TLS with AUTH, accepts and discards.

Run as a separate process so that the code being measured does not share its interpreter:
    python bench/smtp_sink.py CERT KEY [--announce]  → prints the port, serves until stdin
    closes; with ``--announce`` it also prints ``time.monotonic()`` for every letter it takes
    (the clock is the machine's, so the parent compares it with its own).
"""
from __future__ import annotations

import socket
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

LOGIN, PASSWORD = "bench@example.com", "bench-password"


class Sink:
    """Counts letters and forgets them."""

    def __init__(self, announce: bool = False) -> None:
        self.count = 0
        self.announce = announce

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        if self.announce:
            print(time.monotonic(), flush=True)
        return "250 OK"


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == LOGIN.encode() and \
        auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok)


def main() -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[1], sys.argv[2])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Sink("--announce" in sys.argv), hostname="127.0.0.1", port=port,
                            ssl_context=context, authenticator=authenticate,
                            auth_require_tls=False)
    controller.start()
    print(port, flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin
    controller.stop()


if __name__ == "__main__":
    main()
