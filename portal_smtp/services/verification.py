"""Running checks inside the application: its policy, EHLO name, module settings and the
bound on checks at once (SPEC §3, §10).

A check waits on a server the user chose, possibly for its whole timeout. While it waits it
holds no database connection: :func:`release_connection` ends the session's transaction
first (a check always runs before anything is changed — «a failed check saves nothing»), so
a hundred hanging checks cannot empty the pool that every other page needs. And it holds a
slot of ``SMTP_MAX_CONCURRENT_CHECKS`` only if one is free at once: otherwise the check is
refused with :data:`BUSY_CODE`, which the views answer with 429.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from flask import current_app

from ..config import setting
from ..extensions import db
from ..smtp import CheckResult, NetworkPolicy, SmtpSettings, check
from ..smtp.connection import Resolver, system_resolver
from .module_settings import effective_policy, get_module_settings

#: The code of a check refused because every slot is taken (nothing was checked).
BUSY_CODE = "busy"
#: How long a check may wait for a free slot: long enough to smooth a double click, short
#: enough that waiting requests never pile up (SPEC §10).
SLOT_WAIT_SECONDS = 0.5
BUSY_MESSAGE = "Сейчас выполняется слишком много проверок. Повторите попытку через минуту."


@dataclass(frozen=True)
class CheckRequest:
    """Everything one check needs, gathered inside the app context (SPEC §3)."""

    settings: SmtpSettings
    sender: str
    recipient: str | None
    send_test_letter: bool
    label: str


def plan_check(
    settings: SmtpSettings,
    *,
    sender: str,
    recipient: str | None = None,
    send_test_letter: bool | None = None,
    label: str = "",
) -> CheckRequest:
    """Fill in the module settings: «Выполнять отправку письма при проверке соединения»
    and «Email для тестовых писем» (else the sender's own address)."""
    module = get_module_settings()
    if send_test_letter is None:
        send_test_letter = module.send_test_letter
    if send_test_letter and recipient is None:
        recipient = module.test_email or sender
    return CheckRequest(settings, sender, recipient, send_test_letter, label)


def verify(
    settings: SmtpSettings,
    *,
    sender: str,
    recipient: str | None = None,
    send_test_letter: bool | None = None,
    label: str = "",
    resolver: Resolver = system_resolver,
) -> CheckResult:
    """Check ``settings`` under the app's network policy and module settings.

    The session's transaction ends before the network is touched (see
    :func:`release_connection`); objects the caller loaded reload on their next use. When
    no check slot is free the result is :func:`busy_result` and nothing is checked.
    """
    request = plan_check(settings, sender=sender, recipient=recipient,
                         send_test_letter=send_test_letter, label=label)
    policy, ehlo = effective_policy(), setting("SMTP_EHLO_HOSTNAME")
    return guarded(lambda: _run(request, policy, ehlo, resolver))


def guarded(network: Callable[[], CheckResult]) -> CheckResult:
    """Run one check's network part under the rules of SPEC §10: the database connection is
    released first, and the check takes a slot or is refused with :func:`busy_result`.

    ``network`` must only talk to the server: everything it needs from the database is
    read before (the IMAP login of «Подключить ящик» comes through here too).
    """
    release_connection()
    with _slot() as free:
        if not free:
            return busy_result()
        return network()


def verify_many(requests: list[CheckRequest]) -> list[CheckResult]:
    """Run several checks side by side; results in order.

    The group takes the slots that are free now (at least one, else every result is busy)
    and runs that many checks at a time: it never waits behind other users' checks.
    """
    policy, ehlo = effective_policy(), setting("SMTP_EHLO_HOSTNAME")
    app = current_app._get_current_object()
    release_connection()
    slots = _slots()
    taken = 0
    wanted = min(len(requests), max(1, int(setting("SMTP_MAX_CONCURRENT_CHECKS"))))
    if requests and slots.acquire(timeout=SLOT_WAIT_SECONDS):
        taken = 1
        while taken < wanted and slots.acquire(blocking=False):
            taken += 1
    if taken == 0:
        return [busy_result() for _ in requests]

    def run_one(request: CheckRequest) -> CheckResult:
        with app.app_context():
            return _run(request, policy, ehlo, system_resolver)

    try:
        with ThreadPoolExecutor(max_workers=taken, thread_name_prefix="smtp-check") as pool:
            return list(pool.map(run_one, requests))
    finally:
        for _ in range(taken):
            slots.release()


def busy_result() -> CheckResult:
    """The refusal given when every check slot is taken (the views answer 429)."""
    return CheckResult(False, BUSY_CODE, BUSY_MESSAGE)


def release_connection() -> None:
    """End the session's transaction so that its pooled connection is not held while a
    check waits on the network (SPEC §10, issue #10).

    Checks run before anything is changed, so ending the transaction loses nothing; loaded
    objects stay in the session, expired, and reload (with a fresh, short-lived connection)
    when the caller touches them after the check. Unsaved changes here are a programming
    error: they would be lost, so they are refused loudly instead.
    """
    session = db.session
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("a check must run before anything is changed in the session")
    session.rollback()


@contextmanager
def _slot() -> Iterator[bool]:
    """``with _slot() as free:`` — one of the app's check slots if one frees up within
    :data:`SLOT_WAIT_SECONDS`; ``free`` is False (and nothing is held) otherwise."""
    slots = _slots()
    free = slots.acquire(timeout=SLOT_WAIT_SECONDS)
    try:
        yield free
    finally:
        if free:
            slots.release()


def _slots() -> threading.BoundedSemaphore:
    return current_app.extensions["portal_smtp"].check_slots


def _run(request: CheckRequest, policy: NetworkPolicy, ehlo: str | None,
         resolver: Resolver) -> CheckResult:
    """One SMTP check; the caller holds its slot and no database connection."""
    return check(
        request.settings,
        sender=request.sender,
        recipient=request.recipient,
        send_test_letter=request.send_test_letter,
        policy=policy,
        ehlo_hostname=ehlo,
        label=request.label,
        resolver=resolver,
    )
