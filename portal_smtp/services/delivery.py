"""Outbox workers (SPEC §11): claim due letters, send them over reused SMTP connections,
retry temporary failures with backoff, and log every attempt.

A letter is claimed with a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), marked
``sending`` and committed before its DATA goes out, and its outcome is committed right after
— in the same commit that marks the next letter. A letter found in ``sending`` after its
lease expired is not sent again: it is failed as «возможно, отправлено» so that an
administrator decides, and no recipient gets it twice.

A letter's database writes are done while the server answers its MAIL FROM, RCPT TO and
DATA (:meth:`PortalSMTP.send_letter`), so that bookkeeping adds little to a letter's time;
they go through a Core connection as driver-level statements (:class:`DriverStatement`).
"""
from __future__ import annotations

import contextlib
import functools
import logging
import os
import random
import smtplib
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

from flask import Flask
from sqlalchemy import (
    Boolean,
    Connection,
    DateTime,
    Integer,
    Update,
    bindparam,
    delete,
    insert,
    or_,
    select,
    union_all,
    update,
)

from ..config import setting
from ..extensions import db
from ..models import LogStatus, OutboxMessage, OutboxStatus, SendLog
from ..signals import letter_attempted
from ..smtp.check import failure_result, server_reply
from ..smtp.connection import PortalSMTP, ReplyTooLong, Watchdog, open_session
from ..smtp.settings import InvalidSettings, SmtpSettings, UnusableSecretError
from ..timeutil import utcnow
from .driver_sql import DriverStatement
from .module_settings import effective_policy, get_module_settings
from .routing import no_account_reason, route_again
from .transports import Transport, load_transport

log = logging.getLogger(__name__)

POSSIBLY_SENT = ("Обработчик остановился во время отправки: письмо могло быть доставлено. "
                 "Чтобы не отправить его дважды, оно не отправляется повторно само; проверьте "
                 "у получателя и при необходимости нажмите «Повторить».")
#: Codes of connection failures worth retrying later.
TEMPORARY_CODES = {"dns", "refused", "timeout"}
#: Seconds a worker keeps a transport it loaded before loading it again.
TRANSPORT_TTL = 2.0
#: A connection idle longer than this is checked with RSET before it is reused.
IDLE_CHECK_SECONDS = 5.0


@dataclass(frozen=True)
class DeliveryConfig:
    """Worker settings, read from the app configuration."""

    batch_size: int = 20
    lease_seconds: int = 300
    max_attempts: int = 8
    retry_base: float = 30.0
    retry_max: float = 3600.0
    idle_seconds: float = 2.0

    @classmethod
    def from_app(cls) -> DeliveryConfig:
        return cls(
            batch_size=int(setting("SMTP_WORKER_BATCH")),
            lease_seconds=int(setting("SMTP_LEASE_SECONDS")),
            max_attempts=int(setting("SMTP_MAX_ATTEMPTS")),
            retry_base=float(setting("SMTP_RETRY_BASE_SECONDS")),
            retry_max=float(setting("SMTP_RETRY_MAX_SECONDS")),
            idle_seconds=float(setting("SMTP_WORKER_IDLE_SECONDS")),
        )

    def backoff(self, attempt: int) -> float:
        """Seconds before the next try: exponential with ±20% jitter."""
        delay = min(self.retry_max, self.retry_base * 2 ** max(0, attempt - 1))
        return delay * random.uniform(0.8, 1.2)


@dataclass
class Outcome:
    """How one delivery attempt ended."""

    #: SENT, DEFERRED or FAILED.
    status: OutboxStatus
    error: str = ""
    reply: str = ""
    smtp_code: int | None = None
    refused: dict[str, str] = field(default_factory=dict)
    #: The connection itself failed: other letters of this transport in the batch wait.
    connect_failure: bool = False
    #: Failed as «возможно, отправлено»: the letter's final "." went out and the connection
    #: ended before the server's verdict (SPEC §11); logged as ``possibly_sent``.
    possibly_sent: bool = False


class ClaimLost(Exception):
    """Another worker took the letter over (its lease expired): leave it alone."""


# --- connections ------------------------------------------------------------------------

@dataclass
class _Session:
    smtp: PortalSMTP
    watchdog: Watchdog
    settings: object
    used_at: float


class Connections:
    """One open SMTP session per transport, reused for many letters."""

    def __init__(self) -> None:
        self._sessions: dict[tuple[str, int], _Session] = {}
        self._policy = effective_policy()
        self._ehlo = setting("SMTP_EHLO_HOSTNAME")

    def get(self, transport: Transport) -> tuple[_Session, bool]:
        """A live session for ``transport`` and whether it was reused."""
        key = (transport.type, transport.id)
        session = self._sessions.get(key)
        if session is not None and session.settings != transport.settings:
            self.drop(key, quit_first=True)  # the account was edited: reconnect
            session = None
        if session is not None:
            if time.monotonic() - session.used_at > IDLE_CHECK_SECONDS and not _alive(session):
                self.drop(key)
                session = None
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
        session = _Session(smtp, watchdog, transport.settings, time.monotonic())
        self._sessions[key] = session
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


def _alive(session: _Session) -> bool:
    session.watchdog.arm(session.settings.timeout)
    try:
        return session.smtp.rset()[0] == 250
    except (smtplib.SMTPException, OSError):
        return False
    finally:
        session.watchdog.disarm()


# --- one letter ---------------------------------------------------------------------------

def _deadline(transport: Transport, size: int) -> float:
    """Wall-clock budget for one letter: three steps' timeouts plus time for its size."""
    return transport.settings.timeout * 3 + size / (100 * 1024)


#: The letter's end went out, the connection ended before the server's verdict (SPEC §11).
ENDED_AFTER_DOT = ("Письмо передано серверу целиком, но соединение прервалось до его ответа: "
                   "письмо могло быть доставлено. Чтобы не отправить его дважды, оно не "
                   "отправляется повторно само; проверьте у получателя и при необходимости "
                   "нажмите «Повторить».")


def _possibly_sent(detail: str, reply: str = "") -> Outcome:
    """Failed, never retried on its own: nobody knows whether the server kept the letter."""
    return Outcome(OutboxStatus.FAILED, f"{ENDED_AFTER_DOT} {detail}", reply, possibly_sent=True)


def _response_outcome(code: int, text: bytes | str, what: str,
                      settings: SmtpSettings) -> Outcome:
    reply = server_reply(code, text, settings)
    status = OutboxStatus.DEFERRED if 400 <= code < 500 else OutboxStatus.FAILED
    return Outcome(status, f"{what} Ответ сервера: {reply}", reply, code)


def transmit(connections: Connections, transport: Transport, letter,
             books: Bookkeeping) -> Outcome | None:
    """Send one letter through ``transport``; reconnect once if a reused connection died.

    ``books`` logs earlier attempts while the server answers MAIL FROM, stores their outcomes
    and marks this letter ``sending`` while it answers RCPT TO and commits while it answers
    DATA — before the letter's text goes out. None: the claim on the letter was lost.
    """
    key = (transport.type, transport.id)
    overlap = {"mail": books.write_log, "rcpt": books.mark, "data": books.commit}
    recipients = letter.recipients.splitlines()
    options = [] if letter.envelope_from.isascii() and all(r.isascii() for r in recipients) \
        else ["SMTPUTF8"]
    settings = transport.settings
    for _ in range(2):
        try:
            session, reused = connections.get(transport)
        except BaseException as error:
            if isinstance(error, KeyboardInterrupt | SystemExit):
                raise
            result = failure_result(error, Watchdog(), settings)
            # A drop before any letter text went out (SPEC §11) is as temporary as a timeout.
            temporary = result.code in TEMPORARY_CODES or result.reply[:1] == "4" \
                or isinstance(error, smtplib.SMTPServerDisconnected)
            status = OutboxStatus.DEFERRED if temporary else OutboxStatus.FAILED
            return Outcome(status, result.message, result.reply, connect_failure=True)
        session.watchdog.arm(_deadline(transport, len(letter.raw)))
        try:
            refused = session.smtp.send_letter(letter.envelope_from, recipients, letter.raw,
                                               options, overlap=overlap)
        except ClaimLost:
            connections.drop(key)  # a reply is still on its way: the dialogue is out of step
            return None
        except smtplib.SMTPRecipientsRefused as error:
            return _all_refused(error.recipients, settings)
        except smtplib.SMTPSenderRefused as error:
            if error.smtp_code == 421 and reused:  # "closing": nothing was sent, go again
                connections.drop(key)
                continue
            return _response_outcome(error.smtp_code, error.smtp_error,
                                     "Сервер отклонил адрес отправителя.", settings)
        except smtplib.SMTPDataError as error:
            if session.smtp.data_sent_dot and not 400 <= error.smtp_code < 600:
                connections.drop(key)  # not a verdict on the letter: the dialogue is lost
                reply = server_reply(error.smtp_code, error.smtp_error, settings)
                return _possibly_sent(f"Сервер ответил не по протоколу SMTP: {reply}", reply)
            return _response_outcome(error.smtp_code, error.smtp_error,
                                     "Сервер не принял письмо.", settings)
        except smtplib.SMTPNotSupportedError:
            return Outcome(OutboxStatus.FAILED, "Сервер не поддерживает SMTPUTF8: адреса с "
                                               "не-ASCII символами через него отправить нельзя.")
        except ReplyTooLong as error:  # the session is closed already
            connections.drop(key)
            result = failure_result(error, session.watchdog, settings)
            if session.smtp.data_sent_dot:
                return _possibly_sent(result.message)
            return Outcome(OutboxStatus.FAILED, result.message)
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            connections.drop(key)
            if reused and not session.watchdog.expired and not session.smtp.data_started:
                continue  # closed before the letter's text went out: one fresh try is safe
            result = failure_result(error, session.watchdog, settings)
            if session.smtp.data_sent_dot:
                return _possibly_sent(result.message, result.reply)
            # Before the final "." the server discards the unfinished letter: try again later.
            return Outcome(OutboxStatus.DEFERRED, "Соединение с сервером прервалось во время "
                           "отправки. " + result.message, result.reply)
        except smtplib.SMTPResponseException as error:
            return _response_outcome(error.smtp_code, error.smtp_error, "Ошибка SMTP.", settings)
        finally:
            session.watchdog.disarm()
            session.used_at = time.monotonic()
        code, text = session.smtp.last_data_reply or (None, b"")
        return Outcome(OutboxStatus.SENT, reply=server_reply(code, text, settings), smtp_code=code,
                       refused={address: server_reply(code, text, settings)
                                for address, (code, text) in refused.items()})
    return Outcome(OutboxStatus.DEFERRED, "Не удалось восстановить соединение с сервером.")


def _all_refused(refused: dict, settings: SmtpSettings) -> Outcome:
    lines = {a: server_reply(code, text, settings) for a, (code, text) in refused.items()}
    temporary = all(400 <= code < 500 for code, _ in refused.values())
    detail = "; ".join(f"{address}: {reply}" for address, reply in lines.items())
    return Outcome(OutboxStatus.DEFERRED if temporary else OutboxStatus.FAILED,
                   f"Сервер отклонил всех получателей: {detail}", detail,
                   next(iter(refused.values()))[0], lines)


# --- the worker ---------------------------------------------------------------------------

class Worker:
    """One worker thread's loop over the outbox."""

    def __init__(self, app: Flask, name: str, stop: threading.Event,
                 maintenance: bool = False) -> None:
        self.app = app
        self.name = name
        self.stop = stop
        self.maintenance = maintenance
        self.processed = 0
        self._last_maintenance = 0.0
        self._transports = TransportCache()

    def run(self, once: bool = False) -> int:
        """Loop until stopped (or, with ``once``, until nothing is due)."""
        with self.app.app_context():
            config = DeliveryConfig.from_app()
            connections = Connections()
            try:
                while not self.stop.is_set():
                    if self.maintenance:
                        self._maintain()
                    letters = claim(self.name, config)
                    if not letters:
                        if once:
                            break
                        self.stop.wait(config.idle_seconds)
                        continue
                    self.processed += self._process(letters, config, connections)
            finally:
                db.session.rollback()
                release(self.name)
                db.session.commit()
                connections.close_all()
                db.session.remove()
        return self.processed

    def _maintain(self) -> None:
        if time.monotonic() - self._last_maintenance < 60:
            return
        self._last_maintenance = time.monotonic()
        recovered = recover_expired()
        removed = apply_retention()
        db.session.commit()
        if recovered or removed:
            log.info("Outbox maintenance: %s recovered, %s removed", recovered, removed)

    def _process(self, letters: list, config: DeliveryConfig,
                 connections: Connections) -> int:
        # The ORM only reads from here on; the writes go through ``books``' connection.
        with db.engine.connect() as connection:
            books = Bookkeeping(connection, self.name, config)
            done = self._send(letters, books, connections)
            books.flush()
            connection.commit()
        db.session.commit()  # ends the read transaction of the transports loaded
        db.session.expunge_all()
        return done

    def _send(self, letters, books: Bookkeeping, connections: Connections) -> int:
        unreachable: dict[tuple[str, int], Outcome] = {}
        done = 0
        for letter in letters:
            if self.stop.is_set():
                break
            broken, no_route = None, ""
            try:
                transport = self._transports.get(letter.transport_type, letter.transport_id) \
                    or reroute(letter, books)
            except NoRoute as refusal:
                transport, no_route = None, refusal.reason
            except InvalidSettings as error:  # stored settings no longer valid: not fatal
                transport, broken = None, error
            books.begin(letter, transport)
            started = time.monotonic()
            if isinstance(broken, UnusableSecretError):  # a wrong key, not a wrong letter
                outcome = Outcome(OutboxStatus.DEFERRED, "Письмо отложено ("
                                  f"{letter.transport_type} #{letter.transport_id}): {broken}")
            elif broken is not None:
                outcome = Outcome(OutboxStatus.FAILED, f"Настройки SMTP отправителя неверны: "
                                  f"{broken} Исправьте их и нажмите «Повторить».")
            elif transport is None:
                outcome = Outcome(OutboxStatus.FAILED, no_route)
            elif (transport.type, transport.id) in unreachable:
                outcome = unreachable[(transport.type, transport.id)]
            else:
                outcome = transmit(connections, transport, letter, books)
                if outcome is None:
                    continue
                if outcome.connect_failure:  # do not wait for a dead server once per letter
                    unreachable[(transport.type, transport.id)] = outcome
            books.record(outcome, transport, time.monotonic() - started)
            done += 1
        return done


LETTER_COLUMNS = ("id", "transport_type", "transport_id", "sender_type", "sender_id",
                  "from_header", "mailing", "envelope_from", "recipients", "raw", "attempts")


def claim(worker: str, config: DeliveryConfig) -> list:
    """Lease up to a batch of due letters to ``worker`` (committed); returns them as rows
    of :data:`LETTER_COLUMNS` — plain rows, which no commit expires."""
    now = utcnow()
    statement = _claim_statement(db.engine.dialect.name == "postgresql")
    letters = db.session.connection().execute(statement, {
        "now": now, "batch": config.batch_size, "worker": worker,
        "lease_until": now + timedelta(seconds=config.lease_seconds)}).all()
    db.session.commit()
    # One transport after another, so that each connection serves its letters in a row.
    return sorted(letters, key=lambda row: (row.transport_type, row.transport_id or 0, row.id))


@functools.cache
def _claim_statement(skip_locked: bool) -> Update:
    """The claim, built once (a worker runs it for every batch).

    Each due status is read in index order on its own and stops after a batch, so a claim
    costs the same with a hundred letters queued or a million (one ``IN`` over both
    statuses makes PostgreSQL sort every due letter first). ``skip_locked``: rows another
    worker is claiming right now are passed over (PostgreSQL).
    """
    now = bindparam("now", type_=DateTime)
    batch = bindparam("batch", type_=Integer)
    firsts = []
    for status in OutboxStatus.waiting():
        first = (
            select(_OUTBOX.c.id, _OUTBOX.c.next_attempt_at)
            .where(_OUTBOX.c.status == status, _OUTBOX.c.next_attempt_at <= now,
                   or_(_OUTBOX.c.claimed_by.is_(None), _OUTBOX.c.lease_until < now))
            .order_by(_OUTBOX.c.next_attempt_at, _OUTBOX.c.id)
            .limit(batch)
        )
        if skip_locked:
            first = first.with_for_update(skip_locked=True)
        first = first.subquery()
        firsts.append(select(first.c.id, first.c.next_attempt_at))
    both = union_all(*firsts).subquery()
    due = select(both.c.id).order_by(both.c.next_attempt_at, both.c.id).limit(batch)
    return (
        update(_OUTBOX)
        .where(_OUTBOX.c.id.in_(due.scalar_subquery()))
        .values(claimed_by=bindparam("worker"),
                lease_until=bindparam("lease_until", type_=DateTime))
        .returning(*(_OUTBOX.c[name] for name in LETTER_COLUMNS))
    )


_OUTBOX = OutboxMessage.__table__
#: The waiting statuses as SQL literals, for the statement text below.
_WAITING_SQL = ", ".join(f"'{status}'" for status in OutboxStatus.waiting())
# The three statements of every letter, run by the driver itself (see DriverStatement).
_MARK_SENDING = DriverStatement(
    f"UPDATE {_OUTBOX.name} SET status = '{OutboxStatus.SENDING.value}', "
    "attempts = attempts + 1, lease_until = :lease_until "
    "WHERE id = :letter_id AND claimed_by = :worker "
    f"AND status IN ({_WAITING_SQL}) "
    # Sent only through the transport the letter still names: one the cascade or an
    # account change re-routed or failed meanwhile is left alone.
    "AND transport_type = :transport_type AND transport_id = :transport_id",
    lease_until=DateTime())
# A letter marked «sending» is this worker's to the end; one it never marked may have been
# claimed by another worker since (its lease expired): that one is left alone.
_RECORD = DriverStatement(
    f"UPDATE {_OUTBOX.name} SET status = :new_status, attempts = :attempts, "
    "claimed_by = NULL, lease_until = NULL, last_reply = :reply, last_error = :error, "
    "next_attempt_at = COALESCE(:next_at, next_attempt_at), "
    "sent_at = COALESCE(:sent_at, sent_at), refused_recipients = :refused "
    "WHERE id = :letter_id AND (:marked OR claimed_by = :worker)",
    next_at=DateTime(), sent_at=DateTime(), marked=Boolean())
_LOG_COLUMNS = ("outbox_id", "attempted_at", "attempt", "status", "transport_type",
                "transport_id", "account_label", "smtp_code", "server_reply", "error",
                "duration_ms")
_LOG_ATTEMPT = DriverStatement(
    f"INSERT INTO {SendLog.__tablename__} ({', '.join(_LOG_COLUMNS)}) "
    f"VALUES ({', '.join(':' + name for name in _LOG_COLUMNS)})",
    attempted_at=DateTime())


class NoRoute(Exception):
    """No transport may send the letter now; ``reason`` is the Russian explanation."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def reroute(letter, books: Bookkeeping) -> Transport:
    """The letter's transport is gone or off: ask :func:`.routing.route_again` (a letter
    bound to its sender's own server never moves); raises :class:`NoRoute`."""
    route = route_again(letter)
    transport = load_transport(*route.transport) if route.transport is not None else None
    if transport is None:
        raise NoRoute(route.reason or no_account_reason(letter.from_header))
    books.connection.execute(update(_OUTBOX).where(_OUTBOX.c.id == letter.id)
                             .values(transport_type=transport.type, transport_id=transport.id))
    return transport


class TransportCache:
    """Transports a worker loaded, kept for a few seconds: an edited, switched-off or
    deleted account or sender is followed within :attr:`ttl`, without loading (and
    decrypting) it again for every batch."""

    def __init__(self, ttl: float = TRANSPORT_TTL) -> None:
        self.ttl = ttl
        self._loaded: dict[tuple[str, int | None], tuple[float, Transport | None]] = {}

    def get(self, kind: str, transport_id: int | None) -> Transport | None:
        """The transport, or None when it is gone or switched off."""
        key, now = (kind, transport_id), time.monotonic()
        loaded = self._loaded.get(key)
        if loaded is None or now - loaded[0] > self.ttl:
            loaded = self._loaded[key] = (now, load_transport(kind, transport_id))
        return loaded[1]


class Bookkeeping:
    """One worker's database writes for the letters of a batch.

    Outcomes wait in memory until they are written while a server answers the next letter's
    commands (or at the end of the batch); :meth:`commit` commits them together
    with the ``sending`` mark of the letter in hand, before its text goes out. The writes go
    through a Core connection of their own: a few statements per letter without the ORM
    session's bookkeeping on top.
    """

    def __init__(self, connection: Connection, worker: str, config: DeliveryConfig) -> None:
        self.connection = connection
        self.worker = worker
        self.config = config
        self._letter = None
        self._transport: Transport | None = None
        self._marked = self._committed = False
        self._outcomes: list[dict] = []
        self._entries: list[dict] = []

    def begin(self, letter, transport: Transport | None) -> None:
        """The letter about to be sent, and the transport it goes through."""
        self._letter, self._marked, self._committed = letter, False, False
        self._transport = transport

    def mark(self) -> None:
        """Mark the letter ``sending`` (once, not committed); :class:`ClaimLost` if it is no
        longer this worker's."""
        if self._marked:
            return
        self.flush()
        result = _MARK_SENDING.execute(self.connection, {
            "letter_id": self._letter.id, "worker": self.worker,
            "transport_type": self._transport.type, "transport_id": self._transport.id,
            "lease_until": utcnow() + timedelta(seconds=self.config.lease_seconds)})
        if result.rowcount != 1:
            raise ClaimLost(self._letter.id)
        self._marked = True

    def commit(self) -> None:
        """Commit the mark (and the outcomes written before it): the letter may go out."""
        if self._committed:
            return
        self.mark()
        self.connection.commit()
        self._committed = True

    def record(self, outcome: Outcome, transport: Transport | None, elapsed: float) -> None:
        """Keep the outcome of the attempt on the letter in hand, and its log entry."""
        letter, config, now = self._letter, self.config, utcnow()
        attempt = letter.attempts + 1
        status, error = outcome.status, outcome.error
        if status == OutboxStatus.DEFERRED and attempt >= config.max_attempts:
            status = OutboxStatus.FAILED
            error = f"{error} Исчерпано число попыток ({attempt})."
        refused = "\n".join(f"{a}: {r}" for a, r in outcome.refused.items())
        if status == OutboxStatus.SENT and outcome.refused:
            error = "Часть получателей отклонена: " + "; ".join(
                f"{a} ({r})" for a, r in outcome.refused.items())
        self._outcomes.append({
            "letter_id": letter.id, "worker": self.worker, "marked": self._marked,
            "new_status": status.value,
            "attempts": attempt, "reply": outcome.reply, "error": error, "refused": refused,
            "next_at": now + timedelta(seconds=config.backoff(attempt))
            if status == OutboxStatus.DEFERRED else None,
            "sent_at": now if status == OutboxStatus.SENT else None})
        self._entries.append({
            "outbox_id": letter.id, "attempted_at": now, "attempt": attempt,
            "status": LogStatus.POSSIBLY_SENT.value if outcome.possibly_sent else status.value,
            "transport_type": transport.type if transport else "",
            "transport_id": transport.id if transport else None,
            "account_label": transport.label[:600] if transport else "",
            "smtp_code": outcome.smtp_code, "server_reply": outcome.reply, "error": error,
            "duration_ms": int(elapsed * 1000)})

    def write_log(self) -> None:
        """Insert the log entries kept so far (the caller commits)."""
        if self._entries:
            entries, self._entries = self._entries, []
            _LOG_ATTEMPT.execute(self.connection, entries)

    def flush(self) -> None:
        """Write the outcomes and log entries kept so far (the caller commits)."""
        self.write_log()
        if not self._outcomes:
            return
        outcomes, self._outcomes = self._outcomes, []
        _RECORD.execute(self.connection, outcomes)
        for outcome in outcomes:
            letter_attempted.send(None, outbox_id=outcome["letter_id"],
                                  status=outcome["new_status"])


def release(worker: str) -> int:
    """Give back letters ``worker`` claimed but did not start (a graceful stop)."""
    return db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.claimed_by == worker, OutboxMessage.status.in_(OutboxStatus.waiting()))
        .values(claimed_by=None, lease_until=None)
        .execution_options(synchronize_session=False)
    ).rowcount


def recover_expired() -> int:
    """Fail letters left in ``sending`` past their lease as «возможно, отправлено»."""
    now = utcnow()
    stuck = select(OutboxMessage.id, OutboxMessage.attempts).where(
        OutboxMessage.status == OutboxStatus.SENDING.value, OutboxMessage.lease_until < now)
    if db.engine.dialect.name == "postgresql":
        stuck = stuck.with_for_update(skip_locked=True)
    rows = db.session.execute(stuck).all()
    for letter_id, attempts in rows:
        db.session.execute(update(OutboxMessage).where(OutboxMessage.id == letter_id).values(
            status=OutboxStatus.FAILED.value, claimed_by=None, lease_until=None,
            last_error=POSSIBLY_SENT).execution_options(synchronize_session=False))
        db.session.execute(insert(SendLog).values(
            outbox_id=letter_id, attempted_at=now, attempt=attempts,
            status=LogStatus.POSSIBLY_SENT.value,
            error=POSSIBLY_SENT))
    return len(rows)


def apply_retention() -> int:
    """Delete send logs and finished letters older than the module's retention."""
    cutoff = utcnow() - timedelta(days=get_module_settings().log_retention_days)
    old_letters = select(OutboxMessage.id).where(
        OutboxMessage.status.in_(OutboxStatus.finished()),
        OutboxMessage.created_at < cutoff)
    removed = db.session.execute(delete(SendLog).where(or_(
        SendLog.attempted_at < cutoff, SendLog.outbox_id.in_(old_letters)))).rowcount
    removed += db.session.execute(delete(OutboxMessage).where(
        OutboxMessage.id.in_(old_letters.scalar_subquery()))).rowcount
    return removed


def worker_name(index: int) -> str:
    """A name unique across machines and processes: host:pid:thread."""
    return f"{socket.gethostname()}:{os.getpid()}:{index}"


def run_workers(app: Flask, concurrency: int = 1, once: bool = False,
                stop: threading.Event | None = None) -> int:
    """Run ``concurrency`` worker threads until ``stop`` is set (or nothing is due with
    ``once``); returns how many letters they processed."""
    stop = stop or threading.Event()
    workers = [Worker(app, worker_name(i), stop, maintenance=i == 0) for i in range(concurrency)]
    if concurrency == 1:
        return workers[0].run(once)
    threads = [threading.Thread(target=w.run, args=(once,), name=w.name, daemon=True)
               for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.5)
    return sum(w.processed for w in workers)
