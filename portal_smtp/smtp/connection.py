"""Opening an SMTP session under the network policy and a hard deadline.

``open_session`` resolves the host once, lets the policy judge every address, connects to an
approved address (never looking the name up again), negotiates TLS — certificates verified
against the host name the user typed — greets with a real EHLO name and logs in. The
:class:`Watchdog` cuts the connection when its deadline passes, so a server that trickles a
byte every few seconds is stopped at the timeout like one that never answers.
"""
from __future__ import annotations

import contextlib
import heapq
import ipaddress
import itertools
import re
import smtplib
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from .auth import authenticate
from .policy import BlockedTarget, NetworkPolicy
from .settings import AuthType, Security, SmtpSettings

Resolver = Callable[[str, int], Sequence[tuple[int, tuple[Any, ...]]]]


class DnsFailure(Exception):
    """The host name does not resolve."""


class StartTlsUnsupported(Exception):
    """security=starttls, but the server does not offer STARTTLS."""


class DeadlineExceeded(TimeoutError):
    """The watchdog's deadline passed."""


#: Bounds on what an SMTP server may send back (SPEC §15). RFC 5321 allows a reply line of
#: 512 octets and smtplib reads up to 8192; an EHLO reply has a dozen or two lines.
MAX_REPLY_LINE = 8192
MAX_REPLY_LINES = 100
MAX_REPLY_BYTES = 64 * 1024


class ReplyTooLong(smtplib.SMTPException):
    """A server's reply (SMTP or IMAP) passed a bound: the session is given up (an SMTP
    session is closed at once), the rest of the reply never read.

    An ``SMTPException`` so that code which gives up on a broken session (an idle check, a
    QUIT on the way out) gives up on this one too.
    """

    def __init__(self, what: str) -> None:
        super().__init__(what)
        #: Which bound, in Russian for the verdict: «больше 100 строк в одном ответе».
        self.what = what


def system_resolver(host: str, port: int) -> list[tuple[int, tuple[Any, ...]]]:
    """Resolve ``host`` with the system resolver: ``[(family, sockaddr), ...]``."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [(family, sockaddr) for family, _, _, _, sockaddr in infos]


class _Reaper:
    """One daemon thread that fires every armed watchdog whose deadline passed.

    Arming and disarming only touch a heap under a lock, so a worker can arm a deadline for
    every letter without starting a thread each time.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Watchdog, int]] = []
        self._condition = threading.Condition()
        self._counter = itertools.count()
        self._thread: threading.Thread | None = None

    def schedule(self, deadline: float, watchdog: Watchdog, generation: int) -> None:
        with self._condition:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="smtp-watchdog",
                                                daemon=True)
                self._thread.start()
            if len(self._heap) > 10_000:  # drop disarmed entries now and then
                self._heap = [e for e in self._heap if e[2].generation == e[3]]
                heapq.heapify(self._heap)
            entry = (deadline, next(self._counter), watchdog, generation)
            heapq.heappush(self._heap, entry)
            if self._heap[0] is entry:  # sooner than what the reaper sleeps towards
                self._condition.notify()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._heap:
                    self._condition.wait()
                deadline, _, watchdog, generation = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._condition.wait(wait)
                    continue
                heapq.heappop(self._heap)
            if watchdog.generation == generation:
                watchdog.fire()


_REAPER = _Reaper()


class Watchdog:
    """Enforces a wall-clock deadline on one connection by shutting its socket down."""

    def __init__(self) -> None:
        self.expired = False
        #: Bumped by every arm/disarm: the reaper fires only the arming it was given.
        self.generation = 0
        self._deadline = float("inf")
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    def arm(self, seconds: float) -> None:
        """Start (or restart) the countdown."""
        self.generation += 1
        self.expired = False
        self._deadline = time.monotonic() + seconds
        _REAPER.schedule(self._deadline, self, self.generation)

    def disarm(self) -> None:
        """Stop the countdown without touching the connection."""
        self.generation += 1
        self._deadline = float("inf")

    def remaining(self) -> float:
        """Seconds left; raises :class:`DeadlineExceeded` when none are."""
        left = self._deadline - time.monotonic()
        if left <= 0 or self.expired:
            self.expired = True
            raise DeadlineExceeded()
        return left

    def attach(self, sock: socket.socket) -> None:
        """Watch ``sock``. A duplicate descriptor is kept: shutting it down ends the
        connection for every descriptor, the TLS-wrapped one included."""
        with self._lock:
            self._sock = sock.dup()

    def fire(self) -> None:
        """The deadline passed: cut the connection."""
        with self._lock:
            self.expired = True
            if self._sock is not None:
                with contextlib.suppress(OSError):  # already closed by the client
                    self._sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Disarm and release the duplicate descriptor."""
        self.disarm()
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None


class PortalSMTP(smtplib.SMTP):
    """``smtplib.SMTP`` on a socket we connected ourselves under the policy, reading replies
    within SPEC §15's bounds.

    Made with the host name the user typed: smtplib connects through :meth:`_get_socket`
    (its documented override point, as ``SMTP_SSL`` uses it) and verifies a STARTTLS
    certificate against that name.
    """

    def __init__(self, socket_factory: Callable[[], socket.socket], host: str, port: int,
                 timeout: float, watchdog: Watchdog | None = None) -> None:
        self._socket_factory = socket_factory
        #: The watchdog of this session: a reply it cut off ends as
        #: :class:`DeadlineExceeded`, not as a server that hung up.
        self.watchdog = watchdog
        #: Called once the server said «354 go ahead» to DATA, before the letter's text goes
        #: out (a worker waits there for its «sending» mark to be committed).
        self.before_text: Callable[[], None] | None = None
        self._while_waiting: deque[Callable[[], None]] = deque()
        # local_hostname is set before EHLO; giving one here avoids smtplib's getfqdn().
        super().__init__(host, port, local_hostname="pending", timeout=timeout)

    #: The server's reply to the last letter's DATA, e.g. (250, b"2.0.0 Ok: queued as …").
    last_data_reply: tuple[int, bytes] | None = None
    #: Whether the current letter got as far as the DATA command.
    data_started = False
    #: Whether the letter's final "." went out (SPEC §11): a drop or timeout before it means
    #: the server discards the unfinished letter; after it, nobody knows whether it was kept.
    data_sent_dot = False

    def _get_socket(self, host, port, timeout):  # smtplib's hook for making the socket
        return self._socket_factory()

    def send_letter(self, sender: str, recipients: list[str], raw: bytes,
                    options: Sequence[str] = (), *,
                    while_waiting: Sequence[Callable[[], None]] = (),
                    before_text: Callable[[], None] | None = None) -> dict:
        """``sendmail`` with the letter's progress noted (:attr:`data_started`,
        :attr:`data_sent_dot`, :attr:`last_data_reply`).

        ``while_waiting``: tasks run one a reply, each after a command went out and before
        its reply is read (MAIL FROM, RCPT TO, …): a worker's database writes then take no
        wall time of their own while the server is the slower of the two. ``before_text``
        runs between the server's go-ahead to DATA and the letter's text. When either
        raises, the dialogue is out of step: drop the connection.
        """
        self.data_started = self.data_sent_dot = False
        self.last_data_reply = None
        self.before_text = before_text
        self._while_waiting = deque(while_waiting)
        try:
            return self.sendmail(sender, recipients, raw, mail_options=list(options))
        finally:
            self.before_text = None
            self._while_waiting.clear()

    def getreply(self) -> tuple[int, bytes]:
        """smtplib's ``getreply`` within SPEC §15's bounds (line, lines, bytes of one reply).

        A line cut off by the end of the connection — the server hung up, or the watchdog cut
        it at the deadline — is no reply: the digits read so far («22» of «250») are not a
        code, so it ends as a disconnection, never as a server's verdict.
        """
        if self._while_waiting:
            self._while_waiting.popleft()()
        if self.file is None:
            self.file = self.sock.makefile("rb")
        lines: list[bytes] = []
        size = 0
        while True:
            line = self._read_line()
            size += len(line)
            if len(lines) >= MAX_REPLY_LINES:
                self._refuse(f"больше {MAX_REPLY_LINES} строк в одном ответе")
            if size > MAX_REPLY_BYTES:
                self._refuse(f"больше {MAX_REPLY_BYTES} байт в одном ответе")
            lines.append(line[4:].strip(b" \t\r\n"))
            code = int(line[:3]) if line[:3].isdigit() else -1  # -1: smtplib's "no code"
            if code == -1 or line[3:4] != b"-":
                return code, b"\n".join(lines)

    def _read_line(self) -> bytes:
        try:
            line = self.file.readline(MAX_REPLY_LINE + 1)
        except OSError as error:
            self._ended(error)
        if len(line) > MAX_REPLY_LINE:
            self._refuse(f"строка длиннее {MAX_REPLY_LINE} байт")
        if not line.endswith(b"\n"):
            self._ended()
        return line

    def _ended(self, error: OSError | None = None) -> NoReturn:
        """The connection ended before a reply did: the watchdog's cut or the server's."""
        self.close()
        if self.watchdog is not None and self.watchdog.expired:
            raise DeadlineExceeded() from error
        raise smtplib.SMTPServerDisconnected(
            f"Connection unexpectedly closed: {error}" if error else
            "Connection unexpectedly closed") from error

    def _refuse(self, what: str) -> NoReturn:
        """Stop reading a reply that passed a bound: what is left of it is never read."""
        self.close()
        raise ReplyTooLong(what)

    # smtplib runs every envelope address through the header parser (``quoteaddr``); an
    # address that is plainly bare — the outbox stores only validated ones — goes out as is.
    # Anything else, and SMTPUTF8, is smtplib's.
    def mail(self, sender, options=()):
        if not _BARE_ADDRESS.fullmatch(sender) or any(o.lower() == "smtputf8" for o in options):
            return super().mail(sender, options)
        extra = " " + " ".join(options) if options and self.does_esmtp else ""
        self.putcmd("mail", f"FROM:<{sender}>{extra}")
        return self.getreply()

    def rcpt(self, recip, options=()):
        if not _BARE_ADDRESS.fullmatch(recip):
            return super().rcpt(recip, options)
        extra = " " + " ".join(options) if options and self.does_esmtp else ""
        self.putcmd("rcpt", f"TO:<{recip}>{extra}")
        return self.getreply()

    def data(self, msg: bytes) -> tuple[int, bytes]:
        """smtplib's ``data``, keeping the reply (``sendmail`` discards it; the send log
        wants it), running :attr:`before_text` and noting when the final "." went out.
        ``msg`` is the outbox's letter: bytes with CRLF line ends."""
        self.data_started, self.data_sent_dot = True, False
        self.putcmd("data")
        code, reply = self.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        if self.before_text is not None:
            self.before_text()
        text = _LEADING_DOT.sub(b"..", msg)  # RFC 5321 §4.5.2 dot-stuffing
        if not text.endswith(b"\r\n"):
            text += b"\r\n"
        self.send(text + b".\r\n")  # all of it, or SMTPServerDisconnected
        self.data_sent_dot = True
        self.last_data_reply = self.getreply()
        return self.last_data_reply


#: local@domain with nothing to quote, strip or interpret.
_BARE_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+")
#: A line of the letter's text that starts with a dot (doubled on the wire).
_LEADING_DOT = re.compile(rb"(?m)^\.")


def tls_context(verify: bool) -> ssl.SSLContext:
    """A client context on the system trust store (``SSL_CERT_FILE`` honoured)."""
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def resolve(host: str, port: int, resolver: Resolver, watchdog: Watchdog):
    """Resolve in a helper thread so that a slow resolver cannot outlast the deadline."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["addresses"] = list(resolver(host, port))
        except Exception as error:  # handed to the caller below
            outcome["error"] = error

    worker = threading.Thread(target=run, name="smtp-resolve", daemon=True)
    worker.start()
    worker.join(watchdog.remaining())
    if worker.is_alive():
        watchdog.expired = True
        raise DeadlineExceeded()
    if "error" in outcome:
        error = outcome["error"]
        if isinstance(error, socket.gaierror | UnicodeError):
            raise DnsFailure(str(error)) from error
        raise error
    if not outcome["addresses"]:
        raise DnsFailure("no addresses")
    return outcome["addresses"]


def connect_checked(
    settings: SmtpSettings, policy: NetworkPolicy, resolver: Resolver, watchdog: Watchdog
) -> socket.socket:
    """Resolve once, judge every address, connect to the first approved one that answers."""
    host, port = settings.ascii_host, settings.effective_port
    policy.check_port(host, port)
    addresses = resolve(host, port, resolver, watchdog)
    for _, sockaddr in addresses:
        policy.check_address(host, ipaddress.ip_address(sockaddr[0].split("%")[0]), port)
    last_error: OSError | None = None
    for family, sockaddr in addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(min(settings.timeout, watchdog.remaining()))
            sock.connect(sockaddr)
        except OSError as error:
            sock.close()
            last_error = error
            if isinstance(error, TimeoutError):
                break  # the time is spent; do not try the next address
            continue
        watchdog.attach(sock)
        return sock
    assert last_error is not None
    raise last_error


def secured_socket_factory(settings: SmtpSettings, policy: NetworkPolicy, resolver: Resolver,
                           watchdog: Watchdog, context: ssl.SSLContext
                           ) -> Callable[[], socket.socket]:
    """A factory of policy-checked sockets, TLS-wrapped from the start for implicit TLS
    (the certificate checked against the host name the user typed)."""

    def connect() -> socket.socket:
        sock = connect_checked(settings, policy, resolver, watchdog)
        if settings.security is not Security.SSL:
            return sock
        try:
            return context.wrap_socket(sock, server_hostname=settings.ascii_host)
        except BaseException:
            sock.close()
            raise

    return connect


def ehlo_name(configured: str | None, sock: socket.socket) -> str:
    """A name strict servers accept: the configured one, the FQDN, else an address literal."""
    if configured:
        return configured
    fqdn = socket.getfqdn()
    if "." in fqdn and not fqdn.startswith("localhost"):
        return fqdn
    local = ipaddress.ip_address(sock.getsockname()[0])
    return f"[IPv6:{local}]" if local.version == 6 else f"[{local}]"


def _greet(smtp: PortalSMTP, name: str) -> None:
    code, reply = smtp.ehlo(name)
    if code != 250:
        code, reply = smtp.helo(name)
        if code != 250:
            raise smtplib.SMTPHeloError(code, reply)


def open_session(
    settings: SmtpSettings,
    *,
    policy: NetworkPolicy,
    watchdog: Watchdog,
    ehlo_hostname: str | None = None,
    resolver: Resolver = system_resolver,
) -> PortalSMTP:
    """Connect, secure, greet and authenticate; the caller owns (and must close) the session.

    Raises :class:`BlockedTarget`, :class:`DnsFailure`, ``OSError`` (refused, timeout),
    ``ssl.SSLError``, :class:`StartTlsUnsupported`, auth errors or ``smtplib`` errors.
    """
    context = tls_context(settings.verify_tls)
    socket_factory = secured_socket_factory(settings, policy, resolver, watchdog, context)
    # The greeting is read here: anything but 220 raises SMTPConnectError.
    smtp = PortalSMTP(socket_factory, settings.ascii_host, settings.effective_port,
                      timeout=settings.timeout, watchdog=watchdog)
    try:
        name = ehlo_name(ehlo_hostname, smtp.sock)
        smtp.local_hostname = name
        _greet(smtp, name)
        if settings.security is Security.STARTTLS:
            if not smtp.has_extn("starttls"):
                raise StartTlsUnsupported()
            smtp.starttls(context=context)
            _greet(smtp, name)
        if settings.auth is not AuthType.NONE:
            authenticate(smtp, settings.auth, settings.login, settings.password)
    except BaseException:
        smtp.close()
        raise
    return smtp


__all__ = [
    "BlockedTarget",
    "DeadlineExceeded",
    "DnsFailure",
    "PortalSMTP",
    "ReplyTooLong",
    "StartTlsUnsupported",
    "Watchdog",
    "open_session",
    "system_resolver",
    "tls_context",
]
