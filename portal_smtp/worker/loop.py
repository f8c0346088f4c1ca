"""The worker loop (SPEC §11, §17): claim a batch, plan each transport's transactions within
its limits, send them over reused connections, hand every outcome to the bookkeeping.

A letter is marked ``sending`` durably before its text goes out and its outcome is
committed with the next mark: a letter found ``sending`` after its lease expired is failed
as «возможно, отправлено», never sent twice. A transport paused by a limit reply, or whose
window is full, keeps its letters waiting without spending their attempts.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import Row

from ..extensions import db
from ..models import OutboxStatus
from ..services import health, limits
from ..services.transports import Transport
from ..smtp.settings import InvalidSettings, UnusableSecretError
from ..timeutil import utcnow
from .bookkeeping import Bookkeeping, Record, log_status
from .claim import claim, release
from .connections import Connections
from .maintenance import heartbeat, maintain
from .sending import ClaimLost, Outcome, transmit
from .settings import DeliveryConfig
from .transports import NoRoute, TransportCache, new_route, store_route
from .wakeup import Wakeup

log = logging.getLogger(__name__)

#: Seconds between maintenance rounds, and between heartbeats of a busy worker.
MAINTENANCE_SECONDS = 60.0
HEARTBEAT_SECONDS = 5.0
#: Seconds between rounds of health checks (each round checks the senders that are due).
HEALTH_ROUND_SECONDS = 30.0


@dataclass
class Plan:
    """One letter of a batch: where it goes and what stops it."""

    letter: Row
    transport: Transport | None = None
    limits: limits.Limits = field(default_factory=limits.Limits)
    #: Why it cannot be sent at all (failed), or why it waits (a wrong key: deferred).
    failure: Outcome | None = None


class Worker:
    """One worker thread's loop over the outbox."""

    def __init__(self, app: Flask, name: str, stop: threading.Event, maintenance: bool = False,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.app = app
        self.name = name
        self.stop = stop
        self.maintenance = maintenance
        self.clock = clock
        self.processed = 0
        self._last_maintenance = self._last_beat = float("-inf")
        self._transports = TransportCache()

    def run(self, once: bool = False) -> int:
        """Loop until stopped (or, with ``once``, until nothing is due)."""
        with self.app.app_context():
            config = DeliveryConfig.from_app()
            connections = Connections()
            books = Bookkeeping(self.app, self.name, config.lease_seconds)
            waiter = Wakeup(db.engine)
            try:
                while not self.stop.is_set():
                    self._maintain()
                    self._beat(books, "sending")
                    letters = claim(self.name, config, self.clock())
                    if not letters:
                        if once:
                            break
                        self._beat(books, "idle", force=True)
                        waiter.wait(config.idle_seconds, self.stop)
                        continue
                    self.processed += self.send_batch(letters, config, connections, books)
                    books.flush()
                    db.session.commit()  # ends the read transaction of the transports
                    db.session.expunge_all()
            finally:
                waiter.close()
                db.session.rollback()
                books.close()
                release(self.name)
                db.session.commit()
                connections.close_all()
                last_heartbeat(self.name, self.processed)
                db.session.remove()
        return self.processed

    def _maintain(self) -> None:
        if not self.maintenance or time.monotonic() - self._last_maintenance < \
                MAINTENANCE_SECONDS:
            return
        self._last_maintenance = time.monotonic()
        maintain(self.clock())
        db.session.commit()

    def _beat(self, books: Bookkeeping, state: str, force: bool = False) -> None:
        if not force and time.monotonic() - self._last_beat < HEARTBEAT_SECONDS:
            return
        self._last_beat = time.monotonic()
        books.run(heartbeat, self.name, self.processed, state)

    # --- a batch ---------------------------------------------------------------------

    def _plan(self, letter: Row, books: Bookkeeping) -> Plan:
        plan = Plan(letter)
        try:
            transport, plan.limits = self._transports.get(letter.transport_type,
                                                          letter.transport_id)
            if transport is None:
                key = new_route(letter)
                books.run(store_route, letter.id, key)
                transport, plan.limits = self._transports.get(*key)
            plan.transport = transport
        except NoRoute as refusal:
            plan.failure = Outcome(OutboxStatus.FAILED, refusal.reason)
        except UnusableSecretError as error:  # a wrong key, not a wrong letter
            plan.failure = Outcome(OutboxStatus.DEFERRED, "Письмо отложено ("
                                   f"{letter.transport_type} #{letter.transport_id}): {error}")
        except InvalidSettings as error:  # stored settings no longer valid: not fatal
            plan.failure = Outcome(OutboxStatus.FAILED, f"Настройки SMTP отправителя неверны: "
                                   f"{error} Исправьте их и нажмите «Повторить».")
        return plan

    def send_batch(self, letters: list[Row], config: DeliveryConfig,
                   connections: Connections, books: Bookkeeping) -> int:
        """Send a claimed batch, transport by transport; returns how many letters ended
        this run (sent, deferred or failed) — letters put back to wait are not counted."""
        plans = [self._plan(letter, books) for letter in letters]
        groups: dict[tuple[str, int], list[Plan]] = {}
        done = 0
        for plan in plans:
            if plan.transport is None:
                self._finish(books, config, plan, plan.failure, [], 0.0)
                done += 1
            else:
                groups.setdefault((plan.transport.type, plan.transport.id), []).append(plan)
        paused = books.run(limits.paused, list(groups), self.clock())
        for key, group in groups.items():
            if self.stop.is_set():
                break
            if key in paused:
                until, reason = paused[key]
                for plan in group:
                    self._wait(books, plan, until, reason)
                continue
            done += _TransportRun(self, config, connections, books, group).send()
        return done

    def _finish(self, books: Bookkeeping, config: DeliveryConfig, plan: Plan,
                outcome: Outcome, done: list[str], elapsed: float,
                refused: dict[str, str] | None = None) -> None:
        """Keep the final outcome of this run on a letter."""
        letter, transport, now = plan.letter, plan.transport, self.clock()
        attempt = letter.attempts + 1
        status, error = outcome.status, outcome.error
        if status == OutboxStatus.DEFERRED and attempt >= config.max_attempts:
            status = OutboxStatus.FAILED
            error = f"{error} Исчерпано число попыток ({attempt})."
        refused = {**(refused or {}), **outcome.refused}
        if status == OutboxStatus.SENT and refused:
            error = "Часть получателей отклонена: " + "; ".join(
                f"{a} ({r})" for a, r in refused.items())
        elif status != OutboxStatus.SENT and done:
            error = f"Письмо уже отправлено получателям: {', '.join(done)}. {error}"
        books.record(Record(
            letter_id=letter.id, attempted_at=now, status=status, attempts=attempt,
            error=error, reply=outcome.reply,
            next_at=now + timedelta(seconds=config.backoff(attempt))
            if status == OutboxStatus.DEFERRED else None,
            sent_at=now if status == OutboxStatus.SENT else None,
            refused="\n".join(f"{a}: {r}" for a, r in refused.items()),
            done="\n".join(done),
            log_status=log_status(status, outcome.possibly_sent),
            transport_type=transport.type if transport else "",
            transport_id=transport.id if transport else None,
            label=transport.label if transport else "", smtp_code=outcome.smtp_code,
            duration_ms=int(elapsed * 1000), attempt=attempt))

    def _wait(self, books: Bookkeeping, plan: Plan, until: datetime, reason: str,
              done: list[str] | None = None, logged: bool = False,
              outcome: Outcome | None = None) -> None:
        """Put a letter back to wait until ``until`` without spending an attempt."""
        letter, transport = plan.letter, plan.transport
        books.record(Record(
            letter_id=letter.id, attempted_at=self.clock(), status=OutboxStatus(letter.status),
            attempts=letter.attempts, error=reason, reply=outcome.reply if outcome else "",
            next_at=until, sent_at=None, refused=None,
            done="\n".join(done) if done is not None else None,
            log_status=OutboxStatus.DEFERRED.value,
            transport_type=transport.type, transport_id=transport.id, label=transport.label,
            smtp_code=outcome.smtp_code if outcome else None, duration_ms=0,
            attempt=letter.attempts + 1, logged=logged))


class _TransportRun:
    """A batch's letters of one transport: reserve their transactions within its limits,
    send what was granted, put the rest back to wait for the window."""

    def __init__(self, worker: Worker, config: DeliveryConfig, connections: Connections,
                 books: Bookkeeping, plans: list[Plan]) -> None:
        self.worker, self.config, self.connections, self.books = worker, config, connections, \
            books
        self.plans = plans
        self.transport = plans[0].transport
        self.limits = plans[0].limits

    def send(self) -> int:
        worker, books, transport, lim = self.worker, self.books, self.transport, self.limits
        todo: list[tuple[Plan, list[str], list[list[str]]]] = []
        for plan in self.plans:
            done = [r for r in plan.letter.done_recipients.splitlines() if r]
            remaining = [r for r in plan.letter.recipients.splitlines()
                         if r and r not in set(done)]
            transactions = lim.transactions(remaining)
            refusal = lim.refusal(max((len(t) for t in transactions), default=0))
            if refusal:
                worker._finish(books, self.config, plan, Outcome(OutboxStatus.FAILED, refusal),
                               done, 0.0)
                continue
            todo.append((plan, done, transactions))
        sizes = [len(t) for _, _, transactions in todo for t in transactions]
        now = worker.clock()
        granted = books.run(limits.reserve, transport.type, transport.id, sizes, lim, now) \
            if lim.windows() else limits.Reservation(len(sizes))
        left = granted.granted
        processed = 0
        unreachable: Outcome | None = None
        for index, (plan, done, transactions) in enumerate(todo):
            if worker.stop.is_set():
                break
            allowed, left = transactions[:left], max(0, left - len(transactions))
            if not allowed:
                self._wait_window(plan, done, granted.retry_at)
                continue
            if unreachable is not None:
                worker._finish(books, self.config, plan, unreachable, done, 0.0)
                processed += 1
                continue
            outcome = self._send_letter(plan, done, allowed,
                                        more=len(allowed) < len(transactions),
                                        retry_at=granted.retry_at)
            if outcome is None:
                continue
            processed += 1
            if outcome.connect_failure:  # do not wait for a dead server once per letter
                unreachable = outcome
            if outcome.limit_hit:
                self._pause(outcome, [p for p, _, _ in todo[index + 1:]])
                break
        return processed

    def _send_letter(self, plan: Plan, done: list[str], transactions: list[list[str]],
                     more: bool, retry_at: datetime | None) -> Outcome | None:
        """Send the granted transactions of one letter; None when the claim was lost."""
        worker, books, transport = self.worker, self.books, self.transport
        letter = plan.letter
        refused: dict[str, str] = {}
        started = time.monotonic()
        for number, recipients in enumerate(transactions):
            mark = books.mark(letter.id)
            try:
                outcome = transmit(self.connections, transport, letter.envelope_from,
                                   recipients, letter.raw, mark)
            except ClaimLost:
                return None
            finally:
                mark.settle()  # its outcome is written after the mark, never before
            if outcome.status != OutboxStatus.SENT:
                if outcome.limit_hit and not outcome.possibly_sent:
                    return self._limit_reply(plan, done, outcome)
                worker._finish(books, self.config, plan, outcome, done,
                               time.monotonic() - started, refused)
                return outcome
            refused.update(outcome.refused)
            done = done + [r for r in recipients if r not in outcome.refused]
            last = number == len(transactions) - 1
            if last and not more:
                worker._finish(books, self.config, plan, outcome, done,
                               time.monotonic() - started, refused)
                return outcome
            if last:  # the next transaction waits for the window
                self._wait_window(plan, done, retry_at, refused)
                return outcome
            books.record(Record(  # keep the claim: the next transaction follows at once
                letter_id=letter.id, attempted_at=worker.clock(),
                status=OutboxStatus(letter.status), attempts=letter.attempts,
                error="", reply=outcome.reply, next_at=None, sent_at=None,
                refused="\n".join(f"{a}: {r}" for a, r in refused.items()),
                done="\n".join(done), log_status=OutboxStatus.SENT.value,
                transport_type=transport.type, transport_id=transport.id,
                label=transport.label, smtp_code=outcome.smtp_code,
                duration_ms=int((time.monotonic() - started) * 1000),
                attempt=letter.attempts + 1, keep_claim=True, logged=False))
        return None

    def _wait_window(self, plan: Plan, done: list[str], retry_at: datetime | None,
                     refused: dict[str, str] | None = None) -> None:
        until = retry_at or self.worker.clock()
        self.worker._wait(self.books, plan, until, window_reason(self.limits, until), done)

    def _limit_reply(self, plan: Plan, done: list[str], outcome: Outcome) -> Outcome:
        """The server said a limit was hit: this letter waits, its attempt not spent."""
        outcome.limit_hit = True
        self.worker._wait(self.books, plan, self._pause_until(), pause_reason(outcome), done,
                          logged=True, outcome=outcome)
        return outcome

    def _pause_until(self) -> datetime:
        return self.worker.clock() + timedelta(seconds=limits.pause_seconds(self.limits))

    def _pause(self, outcome: Outcome, rest: list[Plan]) -> None:
        """Pause the transport; the batch's other letters of it wait too."""
        until, reason = self._pause_until(), pause_reason(outcome)
        self.books.run(limits.pause, self.transport.type, self.transport.id, until, reason)
        for plan in rest:
            self.worker._wait(self.books, plan, until, reason)


def window_reason(lim: limits.Limits, until: datetime) -> str:
    """Why a letter waits for its sender's window."""
    windows = ", ".join(f"{limit} {limits.WINDOW_NAMES[seconds]}"
                        for seconds, limit in lim.windows())
    return (f"Ждёт окна лимита отправителя ({windows}); отправка не раньше "
            f"{until:%H:%M:%S} UTC.")


def pause_reason(outcome: Outcome) -> str:
    """Why a transport's letters wait after the server's limit reply."""
    return ("Сервер сообщил о превышении лимита отправки; письма этого отправителя отложены, "
            f"попытки не расходуются. Ответ сервера: {outcome.reply}")


def last_heartbeat(name: str, processed: int) -> None:
    """The last heartbeat: the worker stopped."""
    with db.engine.connect() as connection:
        heartbeat(connection, name, processed, "stopped")
        connection.commit()


def health_loop(app: Flask, stop: threading.Event,
                clock: Callable[[], datetime] = utcnow) -> None:
    """Re-check the senders that are due (SPEC §17) beside the workers, until ``stop``."""
    with app.app_context():
        while not stop.is_set():
            try:
                health.run_due_checks(clock())
            except Exception:  # a failed round is logged; the next one tries again
                log.exception("portal_smtp: health checks failed")
                db.session.rollback()
            stop.wait(HEALTH_ROUND_SECONDS)
        db.session.remove()


def worker_name(index: int) -> str:
    """A name unique across machines and processes: host:pid:thread."""
    return f"{socket.gethostname()}:{os.getpid()}:{index}"


def run_workers(app: Flask, concurrency: int = 1, once: bool = False,
                stop: threading.Event | None = None,
                clock: Callable[[], datetime] = utcnow) -> int:
    """Run ``concurrency`` worker threads until ``stop`` is set (or nothing is due with
    ``once``); returns how many letters they processed."""
    stop = stop or threading.Event()
    workers = [Worker(app, worker_name(i), stop, maintenance=i == 0, clock=clock)
               for i in range(concurrency)]
    health = None if once else threading.Thread(target=health_loop, args=(app, stop, clock),
                                                 name="smtp-health", daemon=True)
    if health is not None:
        health.start()
    if concurrency == 1:
        try:
            return workers[0].run(once)
        finally:
            stop.set()
            if health is not None:
                health.join(5)
    threads = [threading.Thread(target=w.run, args=(once,), name=w.name, daemon=True)
               for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.5)
    return sum(w.processed for w in workers)
