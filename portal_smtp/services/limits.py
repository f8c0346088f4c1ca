"""Per-sender sending limits (SPEC §17): which apply, how much of them is used, the
reservations a worker makes before a transaction and the pause after a limit reply.

Limits count envelope recipients in rolling windows (a minute, an hour, a day) and cap the
recipients of one SMTP transaction. The limits that count are those of the transport that
actually sends: a mailbox sending through an admin account uses the account's. A sender's
own value wins; where it has none, its provider's default from the directory applies.

Reservations are rows of :class:`~portal_smtp.models.SendUsage` written before MAIL FROM, in
the database, so every worker on every machine counts against the same windows. A
reservation first updates the transport's :class:`~portal_smtp.models.SenderState` row —
the write takes that row's lock on PostgreSQL and the database's write lock on SQLite — so two
workers never both see room for the last recipients.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, case, delete, func, insert, select, update

from ..config import setting
from ..extensions import db
from ..models import (
    LIMIT_WINDOWS,
    CrmSender,
    Mailbox,
    OutboxMessage,
    OutboxStatus,
    SenderState,
    SendUsage,
    SmtpAccount,
)
from ..timeutil import utcnow
from .providers import detect_provider
from .storage import upsert_insert

_USAGE = SendUsage.__table__
_STATE = SenderState.__table__
_OUTBOX = OutboxMessage.__table__
WINDOW_NAMES = {60: "в минуту", 3600: "в час", 86400: "в сутки"}


@dataclass(frozen=True)
class Limits:
    """Recipients allowed per minute, hour and day, and per transaction (None: no limit)."""

    minute: int | None = None
    hour: int | None = None
    day: int | None = None
    letter: int | None = None

    def windows(self) -> list[tuple[int, int]]:
        """The configured rolling windows as (seconds, recipients), shortest first."""
        values = (self.minute, self.hour, self.day)
        return [(seconds, limit) for seconds, limit in zip((60, 3600, 86400), values,
                                                             strict=True) if limit]

    @property
    def configured(self) -> bool:
        return bool(self.windows() or self.letter)

    def transactions(self, recipients: Sequence[str]) -> list[list[str]]:
        """``recipients`` cut into transactions of at most ``letter`` each."""
        size = self.letter or len(recipients) or 1
        return [list(recipients[i:i + size]) for i in range(0, len(recipients), size)]

    def refusal(self, count: int) -> str | None:
        """Why a transaction to ``count`` recipients can never go out, or None."""
        for seconds, limit in self.windows():
            if count > limit:
                return (f"В письме {count} получателей, а лимит отправителя — {limit} "
                        f"{WINDOW_NAMES[seconds]}: письмо не может быть отправлено. Уменьшите "
                        "число получателей или увеличьте лимит.")
        return None


def own_limits(obj: object | None) -> Limits:
    """The limits stored on ``obj`` itself (None fields where it has none)."""
    if obj is None:
        return Limits()
    return Limits(*(getattr(obj, name, None) for name in LIMIT_WINDOWS))


def merged(own: Limits, default: Limits) -> Limits:
    """``own`` with each missing value taken from ``default``."""
    return Limits(*(mine if mine is not None else theirs
                    for mine, theirs in zip(_values(own), _values(default), strict=True)))


def _values(limits: Limits) -> tuple[int | None, ...]:
    return (limits.minute, limits.hour, limits.day, limits.letter)


def provider_default(kind: str, obj: object) -> Limits:
    """The directory's defaults for ``obj``: its mailbox's provider, else the provider of its
    address's domain."""
    provider = None
    if kind == "mailbox":
        provider = obj.provider
    elif getattr(obj, "email", ""):
        provider = detect_provider(obj.email)
    return own_limits(provider)


def limits_of(kind: str, obj: object | None) -> Limits:
    """The limits that apply to a transport (SPEC §17): its own, else its provider's."""
    if obj is None:
        return Limits()
    own = own_limits(obj.sending if kind == "mailbox" else obj)
    return merged(own, provider_default(kind, obj))


_MODELS = {"account": SmtpAccount, "mailbox": Mailbox, "sender": CrmSender}


def limits_for(kind: str, transport_id: int | None) -> Limits:
    """The limits of transport ``(kind, transport_id)``; none for an unknown one."""
    model = _MODELS.get(kind)
    if model is None or transport_id is None:
        return Limits()
    return limits_of(kind, db.session.get(model, transport_id))


def _window_sums(connection: Connection, kind: str, transport_id: int, now: datetime,
                 windows: Sequence[tuple[int, int]]) -> dict[int, int]:
    """Recipients used in each window, in one query over the longest."""
    if not windows:
        return {}
    longest = max(seconds for seconds, _ in windows)
    columns = [func.coalesce(func.sum(case(
        (_USAGE.c.used_at > now - timedelta(seconds=seconds), _USAGE.c.recipients),
        else_=0)), 0) for seconds, _ in windows]
    row = connection.execute(select(*columns).where(
        _USAGE.c.transport_type == kind, _USAGE.c.transport_id == transport_id,
        _USAGE.c.used_at > now - timedelta(seconds=longest))).one()
    return {seconds: int(used) for (seconds, _), used in zip(windows, row, strict=True)}


def current_use(kind: str, transport_id: int, now: datetime | None = None) -> dict[int, int]:
    """Recipients used in each of the minute, hour and day windows (for the sender's page)."""
    windows = [(60, 0), (3600, 0), (86400, 0)]
    return _window_sums(db.session.connection(), kind, transport_id, now or utcnow(), windows)


@dataclass(frozen=True)
class Reservation:
    """How many of the asked transactions fit now, and when the next one will."""

    granted: int
    retry_at: datetime | None = None


def _lock(connection: Connection, kind: str, transport_id: int) -> None:
    """Take the transport's state row for this transaction (created when missing): one
    upsert that writes the row, so it holds the row's lock (PostgreSQL) or the database's
    write lock (SQLite) until the caller commits."""
    maker = upsert_insert(connection.dialect.name) \
        if connection.dialect.name in ("postgresql", "sqlite") else None
    values = {"transport_type": kind, "transport_id": transport_id, "reservations": 1,
              "pause_reason": "", "health_failures": 0}
    if maker is None:  # another database: the plain way, in two statements
        if connection.execute(update(_STATE).where(
                _STATE.c.transport_type == kind, _STATE.c.transport_id == transport_id)
                .values(reservations=_STATE.c.reservations + 1)).rowcount == 0:
            connection.execute(insert(_STATE).values(**values))
        return
    connection.execute(maker(_STATE).values(**values).on_conflict_do_update(
        index_elements=["transport_type", "transport_id"],
        set_={"reservations": _STATE.c.reservations + 1}))


def reserve(connection: Connection, kind: str, transport_id: int, sizes: Sequence[int],
            limits: Limits, now: datetime) -> Reservation:
    """Reserve room for transactions of ``sizes`` recipients, in order, as far as they fit.

    Writes one usage row for the granted transactions; the caller commits. ``retry_at`` is when
    the first transaction that did not fit will (None when all did).
    """
    windows = limits.windows()
    if not windows:
        return Reservation(len(sizes))
    _lock(connection, kind, transport_id)
    used = _window_sums(connection, kind, transport_id, now, windows)
    granted = 0
    for size in sizes:
        if any(used[seconds] + size > limit for seconds, limit in windows):
            break
        for seconds, _ in windows:
            used[seconds] += size
        granted += 1
    if granted:  # one row for the lot: they leave the windows together
        connection.execute(insert(_USAGE).values(
            transport_type=kind, transport_id=transport_id, used_at=now,
            recipients=sum(sizes[:granted])))
    if granted == len(sizes):
        return Reservation(granted)
    return Reservation(granted, _fits_at(connection, kind, transport_id, now, windows,
                                         used, sizes[granted]))


def _fits_at(connection: Connection, kind: str, transport_id: int, now: datetime,
             windows: Sequence[tuple[int, int]], used: dict[int, int], size: int) -> datetime:
    """When enough of the reserved recipients leave every window for ``size`` more."""
    fits = now
    for seconds, limit in windows:
        excess = used[seconds] + size - limit
        if excess <= 0:
            continue
        rows = connection.execute(
            select(_USAGE.c.used_at, _USAGE.c.recipients)
            .where(_USAGE.c.transport_type == kind, _USAGE.c.transport_id == transport_id,
                   _USAGE.c.used_at > now - timedelta(seconds=seconds))
            .order_by(_USAGE.c.used_at)).all()
        leaving = 0
        for used_at, recipients in rows:
            leaving += recipients
            if leaving >= excess:
                fits = max(fits, used_at + timedelta(seconds=seconds, milliseconds=1))
                break
        else:  # reserved in this very call, not yet visible: a whole window from now
            fits = max(fits, now + timedelta(seconds=seconds))
    return fits


#: Words of a server's reply that say a sending limit was hit.
_LIMIT_WORDS = re.compile(
    r"quota|rate|limit|too many|exceed|throttl|try again later|[45]\.4\.5\b|[45]\.7\.28\b"
    r"|превыш|лимит|слишком много", re.IGNORECASE)


def is_limit_reply(code: int | None, text: str) -> bool:
    """Whether a server's reply says a sending limit was hit (4xx or 5xx with such words)."""
    return code is not None and 400 <= code < 600 and bool(_LIMIT_WORDS.search(text or ""))


def pause_seconds(limits: Limits) -> int:
    """How long a limit reply pauses a transport: its shortest window, else
    ``SMTP_LIMIT_PAUSE_SECONDS``."""
    windows = limits.windows()
    return windows[0][0] if windows else int(setting("SMTP_LIMIT_PAUSE_SECONDS"))


def pause(connection: Connection, kind: str, transport_id: int, until: datetime,
          reason: str) -> int:
    """Pause a transport until ``until``: its waiting letters wait too, their attempts
    untouched. Returns how many letters were moved; the caller commits."""
    _lock(connection, kind, transport_id)
    connection.execute(update(_STATE).where(
        _STATE.c.transport_type == kind, _STATE.c.transport_id == transport_id)
        .values(paused_until=until, pause_reason=reason))
    return connection.execute(update(_OUTBOX).where(
        _OUTBOX.c.transport_type == kind, _OUTBOX.c.transport_id == transport_id,
        _OUTBOX.c.status.in_(OutboxStatus.waiting()), _OUTBOX.c.next_attempt_at < until)
        .values(next_attempt_at=until)).rowcount


def paused(connection: Connection, keys: Sequence[tuple[str, int]],
           now: datetime) -> dict[tuple[str, int], tuple[datetime, str]]:
    """Which of the transports ``keys`` are paused now: key → (until, reason)."""
    if not keys:
        return {}
    rows = connection.execute(select(
        _STATE.c.transport_type, _STATE.c.transport_id, _STATE.c.paused_until,
        _STATE.c.pause_reason).where(
        _STATE.c.paused_until > now,
        _STATE.c.transport_type.in_({kind for kind, _ in keys}),
        _STATE.c.transport_id.in_({transport_id for _, transport_id in keys}))).all()
    return {(kind, transport_id): (until, reason) for kind, transport_id, until, reason in rows
            if (kind, transport_id) in set(keys)}


def forget_old_usage(now: datetime | None = None) -> int:
    """Delete reservations older than the longest window (maintenance)."""
    cutoff = (now or utcnow()) - timedelta(seconds=max(s for s in LIMIT_WINDOWS.values() if s))
    return db.session.execute(delete(SendUsage).where(SendUsage.used_at < cutoff)).rowcount


__all__ = ["Limits", "Reservation", "current_use", "forget_old_usage",
           "is_limit_reply", "limits_for", "limits_of", "pause", "pause_seconds", "paused",
           "reserve"]
