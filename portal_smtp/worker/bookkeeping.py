"""A worker's one write path: outcomes, the send log, hourly figures, limit reservations,
pauses and heartbeats, written in order by a thread of their own (SPEC §11, §17).

The sending thread hands the writes over and goes on talking to the server. It waits only
where it must: for the durable «sending» mark, after the server's go-ahead to DATA and before
the letter's text. The mark is committed together with the outcomes kept since the last
commit, so a letter costs one commit; the database's round trips overlap the server's
(``bench/bench_outbox.py`` measures the worker against raw smtplib).
"""
from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from flask import Flask
from sqlalchemy import (
    Connection,
    DateTime,
    Text,
    bindparam,
    func,
    insert,
    literal_column,
    or_,
    update,
)

from ..extensions import db
from ..models import HourlyStats, LogStatus, OutboxStatus, SendLog
from ..services.storage import upsert_insert
from ..signals import letter_attempted
from ..timeutil import utcnow
from .claim import OUTBOX, WAITING, sql_literal
from .driver_sql import DriverStatement
from .sending import ClaimLost

T = TypeVar("T")
#: Seconds an outcome may wait in memory for the end of its batch (see Bookkeeping.mark).
OUTCOMES_WAIT = 0.1

_MARK = (
    update(OUTBOX)
    # By primary key only: a claimed letter the cascade or an account change re-routed or
    # failed meanwhile lost its claim there (services/routing.py), so the claim is the guard.
    # (A condition on the transport too let PostgreSQL pick the transport's index and
    # filter every letter of the account: 1 ms a letter instead of 0.1.)
    .where(OUTBOX.c.id == bindparam("letter_id"), OUTBOX.c.claimed_by == bindparam("worker"),
           WAITING)
    .values(status=sql_literal(OutboxStatus.SENDING.value),
            attempts=OUTBOX.c.attempts + literal_column("1"),
            lease_until=bindparam("new_lease_until"))
)
_MARK_FAST = DriverStatement(_MARK)
# A letter this worker marked «sending» is its own to the end; one it never marked may have
# been claimed by another worker since (its lease expired): that one is left alone.
_RECORD = (
    update(OUTBOX)
    .where(OUTBOX.c.id == bindparam("letter_id"),
           or_(bindparam("marked"), OUTBOX.c.claimed_by == bindparam("worker")))
    .values(status=bindparam("new_status"), attempts=bindparam("new_attempts"),
            claimed_by=bindparam("new_claimed_by"), lease_until=bindparam("new_lease_until"),
            last_reply=bindparam("reply"), last_error=bindparam("error"),
            # None: unchanged.
            next_attempt_at=func.coalesce(bindparam("next_at", type_=DateTime),
                                          OUTBOX.c.next_attempt_at),
            sent_at=func.coalesce(bindparam("new_sent_at", type_=DateTime), OUTBOX.c.sent_at),
            refused_recipients=func.coalesce(bindparam("refused", type_=Text),
                                             OUTBOX.c.refused_recipients),
            done_recipients=func.coalesce(bindparam("done", type_=Text),
                                          OUTBOX.c.done_recipients))
)
_LOG = insert(SendLog.__table__)
_STATS = HourlyStats.__table__


@dataclass
class Record:
    """One attempt's outcome as the outbox row, the send log and the figures keep it."""

    letter_id: int
    attempted_at: datetime
    status: OutboxStatus
    attempts: int
    error: str
    reply: str
    #: None leaves the stored value as it is (so do ``sent_at``, ``refused`` and ``done``).
    next_at: datetime | None
    sent_at: datetime | None
    refused: str | None
    done: str | None
    #: The status the send log shows (``possibly_sent`` for a failure after the final ".").
    log_status: str
    transport_type: str
    transport_id: int | None
    label: str
    smtp_code: int | None
    duration_ms: int
    attempt: int
    #: Keep the claim (another transaction of the letter follows at once).
    keep_claim: bool = False
    #: Written to the send log (a letter put back to wait for its window is not).
    logged: bool = True


class Bookkeeping:
    """The writes of one worker, on a connection of its own.

    Outcomes wait in memory for the end of the batch — at most :data:`OUTCOMES_WAIT` — and
    are written together (SPEC §11 lets them be late: a lost one leaves its letter «sending»,
    recovered as «возможно, отправлено», never sent twice). The «sending» mark of each
    transaction is durable before its text goes out (see :class:`Mark`).
    """

    def __init__(self, app: Flask, worker: str, lease_seconds: int) -> None:
        self.worker = worker
        self.lease_seconds = lease_seconds
        self._app = app
        self._engine = db.engine
        self._connection: Connection | None = None
        self._marks: Connection | None = None
        #: Where PostgreSQL marks are written (see :class:`Mark`); None on SQLite.
        self.writer = ThreadPoolExecutor(1, thread_name_prefix=f"mark-{worker}") \
            if self._engine.dialect.name == "postgresql" else None
        self._records: list[Record] = []
        self._oldest = 0.0
        self._marked: set[int] = set()
        self._stats: dict[tuple[datetime, str, int], list[int]] = defaultdict(
            lambda: [0, 0, 0, 0])

    @property
    def connection(self) -> Connection:
        if self._connection is None:
            self._connection = self._engine.connect()
        return self._connection

    @property
    def marks(self) -> Connection:
        """The connection the «sending» marks go through: each commits by itself."""
        if self._marks is None:
            self._marks = self._engine.connect().execution_options(
                isolation_level="AUTOCOMMIT")
        return self._marks

    def mark(self, letter_id: int) -> Mark:
        """The «sending» mark of the letter's next transaction (begun on PostgreSQL).

        Outcomes kept longer than :data:`OUTCOMES_WAIT` are written first — and the letter's
        own previous transaction's always — so a worker killed mid-batch leaves at most that
        much of its work to be failed as «возможно, отправлено»."""
        if self._records and (time.monotonic() - self._oldest > OUTCOMES_WAIT or any(
                record.letter_id == letter_id for record in self._records)):
            self.flush()
        return Mark(self, letter_id)

    def record(self, record: Record) -> None:
        """Keep an outcome; it is written at the end of the batch, or before the next mark
        once it waited :data:`OUTCOMES_WAIT`."""
        if not self._records:
            self._oldest = time.monotonic()
        self._records.append(record)

    def flush(self) -> None:
        """Write and commit everything kept (the end of a batch). On PostgreSQL the commit
        does not wait for the disk (SPEC §11: an outcome lost in a crash leaves its letter
        «sending», failed later as «возможно, отправлено» — never sent twice)."""
        announced = self._write_records()
        self._write_stats()
        if announced and self.connection.dialect.name == "postgresql":
            self.connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
        self.connection.commit()
        self._announce(announced)

    def run(self, work: Callable[..., T], *args: Any) -> T:
        """``work(connection, *args)`` after the outcomes kept so far, then commit."""
        announced = self._write_records()
        result = work(self.connection, *args)
        self.connection.commit()
        self._announce(announced)
        return result

    def close(self) -> None:
        """Write what is kept and let the connection go."""
        try:
            self.flush()
        finally:
            for connection in (self._connection, self._marks):
                if connection is not None:
                    connection.close()
            self._connection = self._marks = None
            if self.writer is not None:
                self.writer.shutdown()

    def _write_records(self) -> list[tuple[int, str]]:
        """Write the kept outcomes, their log entries and figures (not committed)."""
        if not self._records:
            return []
        records, self._records = self._records, []
        self.connection.execute(_RECORD, [self._row(r) for r in records])
        entries = [self._log_entry(r) for r in records if r.logged]
        if entries:
            self.connection.execute(_LOG, entries)
        for r in records:
            if not r.logged:
                continue
            hour = r.attempted_at.replace(minute=0, second=0, microsecond=0)
            counts = self._stats[(hour, r.transport_type or "", r.transport_id or 0)]
            index = {OutboxStatus.SENT: 0, OutboxStatus.FAILED: 1}.get(r.status, 2)
            counts[index] += 1
            counts[3] += r.duration_ms
        return [(r.letter_id, r.status.value) for r in records]

    def _row(self, r: Record) -> dict:
        marked = r.letter_id in self._marked
        if not r.keep_claim:
            self._marked.discard(r.letter_id)
        return {
            "letter_id": r.letter_id, "worker": self.worker, "marked": marked,
            "new_status": r.status.value, "new_attempts": r.attempts,
            "new_claimed_by": self.worker if r.keep_claim else None,
            "new_lease_until": utcnow() + timedelta(seconds=self.lease_seconds)
            if r.keep_claim else None,
            "reply": r.reply, "error": r.error, "next_at": r.next_at, "new_sent_at": r.sent_at,
            "refused": r.refused, "done": r.done}

    @staticmethod
    def _log_entry(r: Record) -> dict:
        return {
            "outbox_id": r.letter_id, "attempted_at": r.attempted_at, "attempt": r.attempt,
            "status": r.log_status, "transport_type": r.transport_type,
            "transport_id": r.transport_id, "account_label": r.label[:600],
            "smtp_code": r.smtp_code, "server_reply": r.reply, "error": r.error,
            "duration_ms": r.duration_ms}

    def _write_stats(self) -> None:
        """Add the kept figures to :class:`HourlyStats` (an upsert per hour and transport)."""
        if not self._stats:
            return
        stats, self._stats = self._stats, defaultdict(lambda: [0, 0, 0, 0])
        maker = upsert_insert(self.connection.dialect.name)
        statement = maker(_STATS)
        statement = statement.on_conflict_do_update(
            index_elements=["hour", "transport_type", "transport_id"],
            set_={name: _STATS.c[name] + statement.excluded[name]
                  for name in ("sent", "failed", "deferred", "duration_ms")})
        self.connection.execute(statement, [
            {"hour": hour, "transport_type": kind, "transport_id": transport_id,
             "sent": sent, "failed": failed, "deferred": deferred, "duration_ms": duration}
            for (hour, kind, transport_id), (sent, failed, deferred, duration)
            in sorted(stats.items())])

    @staticmethod
    def _announce(announced: list[tuple[int, str]]) -> None:
        """Tell the host about committed outcomes (``letter_attempted``)."""
        for letter_id, status in announced:
            letter_attempted.send(None, outbox_id=letter_id, status=status)


class Mark:
    """The «sending» mark of one transaction: one statement on an autocommit connection of
    the worker's own, durable before the letter's text goes out, written while the server
    answers the envelope.

    How it overlaps depends on what the database waits for (``bench/bench_outbox.py``, default
    batch, medians of interleaved rounds): SQLite spends CPU, so the mark runs in the sending
    thread while the server answers MAIL FROM (a thread of its own made a third busy thread
    on two cores and slowed the server: 0.71× raw smtplib instead of 0.82×; written before
    MAIL FROM, 0.72×); PostgreSQL waits on the network, so the mark goes to a thread of its
    own when the letter starts and is awaited after «354» (0.58× → 0.65×).
    """

    def __init__(self, books: Bookkeeping, letter_id: int) -> None:
        self.books = books
        self.letter_id = letter_id
        #: Whether the letter was still this worker's (None until written).
        self.taken: bool | None = None
        self._pending: Future[None] | None = None
        if books.writer is not None:
            self._pending = books.writer.submit(self.write)

    def steps(self) -> list[Callable[[], None]]:
        """What to run while the server answers, in order."""
        return [] if self._pending is not None else [self.write]

    def write(self) -> None:
        """Mark the letter ``sending``, durably."""
        if self.taken is not None:
            return
        books = self.books
        result = _MARK_FAST.execute(books.marks, {
            "letter_id": self.letter_id, "worker": books.worker,
            "new_lease_until": utcnow() + timedelta(seconds=books.lease_seconds)})
        self.taken = result.rowcount == 1

    def settle(self) -> None:
        """Wait for a mark begun on the writer thread (the transaction ended, however)."""
        if self._pending is not None:
            self._pending.result()

    def ensure(self) -> None:
        """Finish the mark; :class:`ClaimLost` when the letter is no longer this worker's.
        Run after «354», before the letter's text."""
        self.settle()
        self.write()
        if not self.taken:
            raise ClaimLost(self.letter_id)
        self.books._marked.add(self.letter_id)


def log_status(status: OutboxStatus, possibly_sent: bool) -> str:
    """How the send log names an attempt's ending."""
    return LogStatus.POSSIBLY_SENT.value if possibly_sent else status.value

