"""Checking IMAP logins (SPEC §6) with the same policy, deadline and verdicts as SMTP.

The mailbox's settings travel in a :class:`~.settings.SmtpSettings` (host, port, security,
login, password, timeout): the connection rules are the same, only the protocol differs.
Credentials go as UTF-8 through ``AUTHENTICATE PLAIN`` when the server offers it — the plain
``LOGIN`` command of ``imaplib`` cannot carry a Cyrillic password.
"""
from __future__ import annotations

import contextlib
import imaplib
import re

from .auth import AuthFailed, AuthUnsupported
from .check import CheckResult, ProtocolError, failure_result
from .connection import (
    ReplyTooLong,
    Resolver,
    StartTlsUnsupported,
    Watchdog,
    secured_socket_factory,
    system_resolver,
    tls_context,
)
from .policy import NetworkPolicy
from .settings import Security, SmtpSettings

OK_MESSAGE = "Данные доступа верны!"
#: Bounds on what an IMAP server may send (SPEC §15). A login check reads a greeting,
#: capabilities and the login's answer — a few KiB; imaplib itself allows 1 MB a line, keeps
#: every untagged line of the session and reads a literal of whatever size it is announced.
MAX_IMAP_LINE = 16 * 1024
MAX_IMAP_LITERAL = 64 * 1024
MAX_IMAP_BYTES = 256 * 1024


class PortalIMAP(imaplib.IMAP4):
    """``imaplib.IMAP4`` over a socket we connected under the policy (TLS included), reading
    within the bounds above: a line, a literal and all the session's responses together."""

    def __init__(self, socket_factory, host: str, port: int, timeout: float) -> None:
        self._socket_factory = socket_factory
        self._received = 0
        super().__init__(host, port, timeout)

    def _create_socket(self, timeout):  # imaplib hook
        return self._socket_factory()

    def readline(self) -> bytes:  # imaplib: every response line is read here
        line = self.file.readline(MAX_IMAP_LINE + 1)
        if len(line) > MAX_IMAP_LINE:
            raise ReplyTooLong(f"строка длиннее {MAX_IMAP_LINE} байт")
        self._count(len(line))
        return line

    def read(self, size: int) -> bytes:  # imaplib: literals ({size}) are read here
        # Judged before reading: a buffered read allocates the announced size up front.
        if size > MAX_IMAP_LITERAL:
            raise ReplyTooLong(f"блок данных в {size} байт, допустимо не больше "
                               f"{MAX_IMAP_LITERAL}")
        self._count(size)
        return self.file.read(size)

    def _count(self, size: int) -> None:
        self._received += size
        if self._received > MAX_IMAP_BYTES:
            raise ReplyTooLong(f"больше {MAX_IMAP_BYTES} байт за сеанс")


def _login(imap: PortalIMAP, login: str, password: str) -> None:
    try:
        if "AUTH=PLAIN" in imap.capabilities:
            imap.authenticate("PLAIN", lambda _: f"\0{login}\0{password}".encode())
        elif login.isascii() and password.isascii() and "LOGINDISABLED" not in imap.capabilities:
            imap.login(login, password)
        else:
            raise AuthUnsupported(None, " ".join(imap.capabilities))
    except imaplib.IMAP4.error as error:
        raise AuthFailed(None, str(error)) from None


def _readable(text: str) -> str:
    """imaplib shows server lines as Python bytes (``b'220 …'``); keep just the line."""
    return re.sub(r"b'(.*?)'", r"\1", text).replace("unexpected response:", "").strip()


def check_imap(settings: SmtpSettings, *, policy: NetworkPolicy,
               resolver: Resolver = system_resolver) -> CheckResult:
    """Connect, secure and log in to an IMAP server; never raises for server problems."""
    watchdog = Watchdog()
    watchdog.arm(settings.timeout)
    context = tls_context(settings.verify_tls)
    socket_factory = secured_socket_factory(settings, policy, resolver, watchdog, context)
    imap = None
    try:
        imap = PortalIMAP(socket_factory, settings.ascii_host, settings.effective_port,
                          settings.timeout)
        if settings.security is Security.STARTTLS:
            if "STARTTLS" not in imap.capabilities:
                raise StartTlsUnsupported()
            imap.starttls(ssl_context=context)
        _login(imap, settings.login, settings.password)
        imap.logout()
    except BaseException as error:
        if isinstance(error, KeyboardInterrupt | SystemExit):
            raise
        if isinstance(error, imaplib.IMAP4.error) and not watchdog.expired:
            error = ProtocolError(_readable(str(error)))
        return failure_result(error, watchdog, settings, protocol="IMAP")
    finally:
        if imap is not None:
            with contextlib.suppress(OSError):  # the connection may already be gone
                imap.shutdown()
        watchdog.close()
    return CheckResult(True, "ok", OK_MESSAGE)
