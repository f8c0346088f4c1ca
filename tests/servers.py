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

    backlog = 16

    def __init__(self, behaviour=None) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(self.backlog)
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
            self._accepted(conn)

    def _accepted(self, conn: socket.socket) -> None:
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


# --- hostile servers (SPEC §15): scripted SMTP and IMAP dialogues with one step gone wrong -----

class Dialogue:
    """One client of a :class:`HostileSmtp`: the connection, its reader and the stop flag."""

    def __init__(self, conn: socket.socket, stopping: threading.Event) -> None:
        self.conn, self.stopping = conn, stopping
        self.file = conn.makefile("rb")

    def send(self, data: bytes) -> None:
        self.conn.sendall(data)

    def readline(self) -> bytes:
        return self.file.readline(1 << 20)

    def wait_for_hangup(self) -> None:
        """Read (and drop) whatever comes until the client closes or the server stops."""
        self.conn.settimeout(0.2)
        while not self.stopping.is_set():
            try:
                if not self.conn.recv(65536):
                    return
            except TimeoutError:
                continue


#: What the well-behaved parts of a hostile SMTP server answer, by step.
HOSTILE_REPLIES = {
    "greeting": b"220 hostile.example ESMTP\r\n",
    "ehlo": b"250-hostile.example\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n",
    "helo": b"250 hostile.example\r\n",
    "auth": b"235 2.7.0 Authentication successful\r\n",
    "mail": b"250 2.1.0 OK\r\n",
    "rcpt": b"250 2.1.5 OK\r\n",
    "data": b"354 End data with <CR><LF>.<CR><LF>\r\n",
    "dot": b"250 2.0.0 Queued\r\n",
    "rset": b"250 2.0.0 OK\r\n",
    "noop": b"250 2.0.0 OK\r\n",
    "quit": b"221 2.0.0 Bye\r\n",
}


class HostileSmtp:
    """A minimal SMTP server (a :class:`ScriptedServer` behaviour) in which any step —
    ``greeting``, ``ehlo``, ``auth``, ``mail``, ``rcpt``, ``data`` (the command), ``dot``
    (the letter's end) — may be replaced by a misbehaviour ``step(dialogue, line)`` that
    returns True to hang up. ``letters`` counts letters whose final "." arrived."""

    def __init__(self, **steps) -> None:
        self.steps = steps
        self.letters = 0
        self.lock = threading.Lock()

    def __call__(self, conn: socket.socket, stopping: threading.Event) -> None:
        dialogue = Dialogue(conn, stopping)
        if self._step("greeting", dialogue, b""):
            return
        while not stopping.is_set():
            line = dialogue.readline()
            if not line:
                return
            verb = line.split(b" ", 1)[0].strip().decode("ascii", "replace").lower()
            if verb == "data":
                if self._step("data", dialogue, line) or self._read_letter(dialogue):
                    return
                continue
            if verb not in HOSTILE_REPLIES or verb in ("greeting", "dot"):
                dialogue.send(b"502 5.5.2 Command not recognized\r\n")
            elif self._step(verb, dialogue, line) or verb == "quit":
                return

    def _read_letter(self, dialogue: Dialogue) -> bool:
        while True:
            line = dialogue.readline()
            if not line:
                return True
            if line == b".\r\n":
                with self.lock:
                    self.letters += 1
                return self._step("dot", dialogue, line)

    def _step(self, name: str, dialogue: Dialogue, line: bytes) -> bool:
        step = self.steps.get(name)
        if step is None:
            dialogue.send(HOSTILE_REPLIES[name])
            return False
        return bool(step(dialogue, line))


def endless_reply(dialogue: Dialogue, line: bytes) -> bool:
    """An endless multi-line reply: ``250-`` lines for as long as the client reads."""
    chunk = b"250-" + b"x" * 70 + b"\r\n"
    chunk *= 1000
    while not dialogue.stopping.is_set():
        dialogue.send(chunk)
    return True


def endless_line(dialogue: Dialogue, line: bytes) -> bool:
    """One reply line that never ends: no newline, ever."""
    dialogue.send(b"220 ")
    chunk = b"x" * 65536
    while not dialogue.stopping.is_set():
        dialogue.send(chunk)
    return True


def trickling_reply(dialogue: Dialogue, line: bytes) -> bool:
    """A reply sent one byte a second."""
    for byte in b"250-hostile.example\r\n250 " + b"." * 10_000:
        if dialogue.stopping.wait(1):
            return True
        dialogue.send(bytes([byte]))
    return True


def script_reply(dialogue: Dialogue, line: bytes) -> bool:
    """A refusal whose text is markup."""
    dialogue.send(b"550 5.7.1 <script>alert('hostile')</script> <b>denied</b>\r\n")
    return False


def hang_up(dialogue: Dialogue, line: bytes) -> bool:
    """Close the connection without a word."""
    return True


def half_a_reply(dialogue: Dialogue, line: bytes) -> bool:
    """Start the reply («25» of «250 …») and say nothing more until the client leaves."""
    dialogue.send(b"25")
    dialogue.wait_for_hangup()
    return True


def echo_auth(dialogue: Dialogue, line: bytes) -> bool:
    """Refuse AUTH PLAIN or XOAUTH2 by echoing the client's line back."""
    dialogue.send(b"535 5.7.8 Authentication failed for: " + line.strip() + b"\r\n")
    return False


def echo_auth_login(dialogue: Dialogue, line: bytes) -> bool:
    """AUTH LOGIN, then refuse it by echoing both base64 answers (login, password)."""
    dialogue.send(b"334 VXNlcm5hbWU6\r\n")
    login = dialogue.readline().strip()
    dialogue.send(b"334 UGFzc3dvcmQ6\r\n")
    password = dialogue.readline().strip()
    dialogue.send(b"535 5.7.8 Bad credentials: " + login + b" " + password + b"\r\n")
    return False


def echo_auth_cram(dialogue: Dialogue, line: bytes) -> bool:
    """AUTH CRAM-MD5, then refuse it by echoing the client's answer."""
    dialogue.send(b"334 " + base64.b64encode(b"<1896.697170952@hostile.example>") + b"\r\n")
    answer = dialogue.readline().strip()
    dialogue.send(b"535 5.7.8 Bad answer " + answer + b"\r\n")
    return False


def offering(mechanism: str):
    """An EHLO step that offers one AUTH mechanism."""
    def ehlo(dialogue: Dialogue, line: bytes) -> bool:
        dialogue.send(f"250-hostile.example\r\n250 AUTH {mechanism}\r\n".encode())
        return False
    return ehlo


def imap_endless_line(conn: socket.socket, stopping: threading.Event) -> None:
    """An IMAP greeting that never ends."""
    conn.sendall(b"* OK ")
    while not stopping.is_set():
        conn.sendall(b"x" * 65536)


def imap_endless_lines(conn: socket.socket, stopping: threading.Event) -> None:
    """An endless stream of untagged responses, each short (imaplib keeps them all)."""
    chunk = b"* OK " + b"x" * 70 + b"\r\n"
    chunk *= 1000
    while not stopping.is_set():
        conn.sendall(chunk)


def imap_huge_literal(conn: socket.socket, stopping: threading.Event) -> None:
    """A greeting that announces a literal of almost a gigabyte, then trickles it."""
    conn.sendall(b"* OK {999999999}\r\n")
    while not stopping.wait(0.5):
        conn.sendall(b"x" * 1024)


class HoldingServer(ScriptedServer):
    """Accepts connections and never says a word, like :class:`BlackHole`, but keeps them
    so a test can wait until ``count`` clients are hanging on it and then let them go
    (closing them, which ends each client's wait at once)."""

    backlog = 64

    def __init__(self) -> None:
        self.held: list[socket.socket] = []
        self.accepted = 0
        self.changed = threading.Condition()
        super().__init__()

    def _accepted(self, conn: socket.socket) -> None:
        with self.changed:
            self.held.append(conn)
            self.accepted += 1
            self.changed.notify_all()

    def wait_for(self, count: int, timeout: float = 30) -> bool:
        """Wait until ``count`` connections are held at once; False if that never happens."""
        with self.changed:
            return self.changed.wait_for(lambda: len(self.held) >= count, timeout)

    def release(self) -> None:
        """Close every held connection: the clients see the server hang up."""
        with self.changed:
            for conn in self.held:
                with contextlib.suppress(OSError):
                    conn.close()
            self.held.clear()

    def stop(self) -> None:
        super().stop()
        self.release()


def after(seconds: float, reply: bytes):
    """A step that answers ``reply`` after ``seconds`` (a slow but live server)."""
    def step(dialogue: Dialogue, line: bytes) -> bool:
        if dialogue.stopping.wait(seconds):
            return True
        dialogue.send(reply)
        return False
    return step


def stutter(gap: float):
    """A step that answers «250 2.0.0 Queued» one byte every ``gap`` seconds, the first at
    once: each byte comes within the socket timeout, the whole reply too late."""
    def step(dialogue: Dialogue, line: bytes) -> bool:
        for index, byte in enumerate(b"250 2.0.0 Queued\r\n"):
            if index and dialogue.stopping.wait(gap):
                return True
            dialogue.send(bytes([byte]))
        return False
    return step


def imap_echo_auth(conn: socket.socket, stopping: threading.Event) -> None:
    """An IMAP server that refuses AUTHENTICATE PLAIN by echoing the client's answer."""
    conn.sendall(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hostile ready\r\n")
    reader = conn.makefile("rb")
    while not stopping.is_set():
        line = reader.readline(65536)
        if not line:
            return
        tag, _, rest = line.strip().partition(b" ")
        if rest.upper().startswith(b"AUTHENTICATE"):
            conn.sendall(b"+ \r\n")
            answer = reader.readline(65536).strip()
            conn.sendall(tag + b" NO [AUTHENTICATIONFAILED] no such user: " + answer + b"\r\n")
        elif rest.upper().startswith(b"CAPABILITY"):
            conn.sendall(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n" + tag + b" OK done\r\n")
        else:
            conn.sendall(tag + b" BAD unknown command\r\n")
