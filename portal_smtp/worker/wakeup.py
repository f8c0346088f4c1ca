"""How an idle worker waits (SPEC §17): on PostgreSQL a queued letter wakes it at once
(LISTEN/NOTIFY); on SQLite it looks again every ``SMTP_WORKER_IDLE_SECONDS``.

``send_mail`` calls :func:`notify_queued` inside the caller's transaction: PostgreSQL delivers
the notification at commit, so a worker never wakes before the letter is visible, and many
letters queued in one transaction wake it once.
"""
from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

from sqlalchemy import Engine, text

from ..extensions import db

log = logging.getLogger(__name__)

#: The channel queued letters are announced on.
CHANNEL = "portal_smtp_outbox"
#: The longest a wait sleeps without looking at the stop event.
STOP_CHECK_SECONDS = 0.5


def notify_queued() -> None:
    """Announce a queued letter to idle workers (PostgreSQL; delivered at commit)."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


class Wakeup:
    """An idle worker's wait: ``wait(timeout, stop)`` returns True when woken by a queued
    letter (or ``stop``), False when the time ran out."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._listening = engine.dialect.name == "postgresql"
        self._connection: Any = None  # the driver's own connection, LISTENing
        self._failed = False

    def wait(self, timeout: float, stop: threading.Event) -> bool:
        if not self._listening:
            return stop.wait(timeout)
        connection = self._listen()
        if connection is None:  # the database is away: poll until it is back
            return stop.wait(timeout)
        remaining = timeout
        while remaining > 0 and not stop.is_set():
            step = min(STOP_CHECK_SECONDS, remaining)
            try:
                if self._drain(connection, step):
                    return True
            except Exception as error:  # a lost connection never stops the worker
                self._lost(error)
                return stop.wait(remaining)
            remaining -= step
        return stop.is_set()

    def _listen(self) -> Any:
        if self._connection is None:
            try:  # a connection of its own, outside the pool: LISTEN outlives transactions
                import psycopg

                url = self._engine.url.set(drivername="postgresql")
                connection = psycopg.connect(url.render_as_string(hide_password=False),
                                             autocommit=True)
                connection.execute(f"LISTEN {CHANNEL}")
            except Exception as error:
                self._lost(error)
                return None
            self._connection, self._failed = connection, False
        return self._connection

    @staticmethod
    def _drain(connection: Any, seconds: float) -> bool:
        """Wait up to ``seconds`` for a notification, then take all that came with it (a
        burst of queued letters wakes the worker once)."""
        if not list(connection.notifies(timeout=seconds, stop_after=1)):
            return False
        list(connection.notifies(timeout=0))
        return True

    def _lost(self, error: Exception) -> None:
        if not self._failed:
            log.warning("portal_smtp: waiting for queued letters by polling: %s", error)
        self._failed = True
        self.close()

    def close(self) -> None:
        """Stop listening."""
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None
