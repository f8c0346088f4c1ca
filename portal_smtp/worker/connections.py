"""One open SMTP session per transport, reused for many letters."""
from __future__ import annotations

import contextlib
import smtplib
import time
from dataclasses import dataclass

from ..config import setting
from ..services.module_settings import effective_policy
from ..services.transports import Transport
from ..smtp.connection import PortalSMTP, Watchdog, open_session
from ..smtp.settings import SmtpSettings

#: A connection idle longer than this is checked with RSET before it is reused.
IDLE_CHECK_SECONDS = 5.0


@dataclass
class Session:
    """An open, authenticated SMTP session and the settings it was opened with."""

    smtp: PortalSMTP
    watchdog: Watchdog
    settings: SmtpSettings
    used_at: float


class Connections:
    """A worker's sessions by transport: reconnects when an account was edited, checks a
    session that sat idle before reusing it, QUITs them all on a graceful stop."""

    def __init__(self) -> None:
        self._sessions: dict[tuple[str, int], Session] = {}
        self._policy = effective_policy()
        self._ehlo = setting("SMTP_EHLO_HOSTNAME")

    def get(self, transport: Transport) -> tuple[Session, bool]:
        """A live session for ``transport`` and whether it was reused."""
        key = (transport.type, transport.id)
        session = self._sessions.get(key)
        if session is not None and session.settings != transport.settings:
            self.drop(key, quit_first=True)  # the account was edited: reconnect
            session = None
        if session is not None:
            if time.monotonic() - session.used_at > IDLE_CHECK_SECONDS and not _alive(session):
                self.drop(key)
            else:
                return session, True
        watchdog = Watchdog()
        watchdog.arm(transport.settings.timeout)
        try:
            smtp = open_session(transport.settings, policy=self._policy, watchdog=watchdog,
                                ehlo_hostname=self._ehlo)
        except BaseException:
            watchdog.close()
            raise
        watchdog.disarm()
        session = self._sessions[key] = Session(smtp, watchdog, transport.settings,
                                                time.monotonic())
        return session, False

    def drop(self, key: tuple[str, int], quit_first: bool = False) -> None:
        """Forget a session, closing it."""
        session = self._sessions.pop(key, None)
        if session is None:
            return
        if quit_first:
            session.watchdog.arm(5)
            with contextlib.suppress(smtplib.SMTPException, OSError):  # leaving anyway
                session.smtp.quit()
        session.smtp.close()
        session.watchdog.close()

    def close_all(self) -> None:
        """QUIT every session (a graceful stop)."""
        for key in list(self._sessions):
            self.drop(key, quit_first=True)


def _alive(session: Session) -> bool:
    session.watchdog.arm(session.settings.timeout)
    try:
        return session.smtp.rset()[0] == 250
    except (smtplib.SMTPException, OSError):
        return False
    finally:
        session.watchdog.disarm()
