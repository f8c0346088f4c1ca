"""Real SMTP servers for the tests, all on loopback.

aiosmtpd serves plain, STARTTLS and implicit-TLS endpoints with AUTH (PLAIN, LOGIN, CRAM-MD5
and XOAUTH2), a server without AUTH, and a server whose certificate no one trusts. Raw socket
servers play the misbehaving ones: a black hole that accepts TCP and never greets, a server
that trickles one byte at a time, and one that refuses service in its greeting.
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import os
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

#: Accounts the AUTH servers accept. The Cyrillic password proves UTF-8 credentials work.
USERS = {"user@example.com": "секрет-Пароль-1", "ascii@example.com": "plain-secret-9"}
TOKENS = {"user@example.com": "ya29.test-access-token"}
REFUSED_SENDER = "blocked-sender@example.com"
REFUSED_RECIPIENT = "nobody@example.com"


@dataclass
class Received:
    """One delivered letter as the server saw it."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    ehlo: str
    login: str | None

    @property
    def message(self):
        return message_from_bytes(self.content, policy=policy.default)


@dataclass
class RecordingHandler:
    """Keeps every delivered letter; refuses one sender and one recipient on purpose."""

    received: list[Received] = field(default_factory=list)
    ehlo_names: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        with self.lock:
            self.ehlo_names.append(hostname)
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if address.lower() == REFUSED_SENDER:
            return "550 5.7.1 Sender not allowed"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() == REFUSED_RECIPIENT:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.received.append(
                Received(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    envelope.original_content or envelope.content,
                    session.host_name,
                    _login_of(session),
                )
            )
        return "250 2.0.0 Queued"

    async def auth_CRAM__MD5(self, server, args):
        challenge = f"<{os.getpid()}.{time.time()}@test>".encode()
        answer = await server.challenge_auth(challenge)
        if not isinstance(answer, bytes):
            return AuthResult(success=False, handled=False)
        login, _, digest = answer.decode("utf-8").rpartition(" ")
        secret = USERS.get(login)
        expected = secret and hmac.new(secret.encode(), challenge, "md5").hexdigest()
        ok = bool(expected) and hmac.compare_digest(expected, digest)
        return AuthResult(success=ok, handled=False, auth_data=LoginPassword(login.encode(), b""))

    async def auth_XOAUTH2(self, server, args):
        if len(args) < 2:
            return AuthResult(success=False, handled=False)
        raw = base64.b64decode(args[1]).decode("utf-8")
        fields = dict(part.split("=", 1) for part in raw.split("\1") if "=" in part)
        login, token = fields.get("user", ""), fields.get("auth", "").removeprefix("Bearer ")
        if TOKENS.get(login) == token:
            return AuthResult(success=True, auth_data=LoginPassword(login.encode(), b""))
        error = base64.b64encode(b'{"status":"401","schemes":"Bearer"}').decode()
        await server.push(f"334 {error}")
        await server._reader.readline()
        return AuthResult(success=False, handled=False)

    def clear(self) -> None:
        with self.lock:
            self.received.clear()
            self.ehlo_names.clear()


def check_login(server, session, envelope, mechanism, auth_data):
    """aiosmtpd authenticator for PLAIN and LOGIN against :data:`USERS` (UTF-8)."""
    if not isinstance(auth_data, LoginPassword):
        return AuthResult(success=False, handled=False)
    login = auth_data.login.decode("utf-8")
    ok = USERS.get(login) is not None and USERS[login].encode("utf-8") == auth_data.password
    return AuthResult(success=ok, handled=False,
                      auth_data=LoginPassword(auth_data.login, b"") if ok else None)


def _login_of(session) -> str | None:
    data = getattr(session, "auth_data", None)
    return data.login.decode("utf-8") if isinstance(data, LoginPassword) else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Endpoint:
    """An SMTP server the tests connect to."""

    name: str
    port: int
    handler: RecordingHandler | None = None
    host: str = "127.0.0.1"


class AioServer:
    """An aiosmtpd server on a free loopback port."""

    def __init__(self, name: str, handler: RecordingHandler | None = None, **kwargs) -> None:
        self.handler = handler or RecordingHandler()
        self.port = free_port()
        self.controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, ident="test ESMTP", **kwargs
        )
        self.controller.start()
        self.endpoint = Endpoint(name, self.port, self.handler)

    def stop(self) -> None:
        self.controller.stop()


class BlackHole:
    """Accepts TCP connections (the kernel completes the handshake) and never says a word."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]

    def stop(self) -> None:
        self.sock.close()


class ScriptedServer:
    """A raw TCP server that plays a fixed misbehaviour to each client, in its own thread."""

    def __init__(self, behaviour) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.behaviour = behaviour
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):  # the client hung up: that is the point
            self.behaviour(conn, self.stopping)

    def stop(self) -> None:
        self.stopping.set()
        self.sock.close()


def trickle(conn: socket.socket, stopping: threading.Event) -> None:
    """Send a greeting one byte every half second, forever."""
    for byte in b"220 slow.example ESMTP " + b"." * 10_000:
        if stopping.wait(0.5):
            return
        conn.sendall(bytes([byte]))


def refuse_service(conn: socket.socket, stopping: threading.Event) -> None:
    """Greet with 554: the server refuses to talk at all."""
    conn.sendall(b"554 5.3.2 Service unavailable, try later\r\n")
    conn.recv(1024)


def server_tls_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


class FlakyHandler(RecordingHandler):
    """Answers 451 to the first DATA of every letter, accepts the second (by Message-ID)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    async def handle_DATA(self, server, session, envelope):
        message_id = message_from_bytes(envelope.content, policy=policy.default)["Message-ID"]
        if message_id not in self.seen:
            self.seen.add(message_id)
            return "451 4.3.0 Temporary local problem, try again"
        return await super().handle_DATA(server, session, envelope)

    def clear(self) -> None:
        super().clear()
        self.seen.clear()


class RejectingHandler(RecordingHandler):
    """Refuses every letter permanently at DATA."""

    async def handle_DATA(self, server, session, envelope):
        return "550 5.7.1 Message rejected as spam"


class DroppingHandler(RecordingHandler):
    """Drops the connection when a fourth letter starts on it (as servers that limit letters
    per connection do): the client learns it at MAIL FROM, before any letter text."""

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if getattr(session, "delivered", 0) >= 3:
            server.transport.close()
            return "421 4.7.0 Too many messages on one connection, closing"
        return await super().handle_MAIL(server, session, envelope, address, mail_options)

    async def handle_DATA(self, server, session, envelope):
        reply = await super().handle_DATA(server, session, envelope)
        session.delivered = getattr(session, "delivered", 0) + 1
        return reply


class SlowHandler(RecordingHandler):
    """Takes a while over every letter (delivered before the reply, as real servers do)."""

    delay = 0.3

    async def handle_DATA(self, server, session, envelope):
        reply = await super().handle_DATA(server, session, envelope)
        await asyncio.sleep(self.delay)
        return reply


def message_ids(handler: RecordingHandler) -> list[str]:
    """Message-IDs of every letter the server received (duplicates kept)."""
    with handler.lock:
        return [str(r.message["Message-ID"]) for r in handler.received]
