"""Health (SPEC §17): the worker re-checks every admin account, mailbox (IMAP and its own
SMTP) and CRM sender with its own server; the last result shows in the lists; after several
failures in a row the owner — administrators for an admin account — gets one letter and a
banner, and nothing more until the sender recovers.

A health check logs in and proves the sender (MAIL FROM, RCPT TO, stopped at DATA): it never
sends a letter, counts against no sending limit and takes no user's check slot. It holds no
database transaction while it waits on a server: the targets are read first, the
transaction ends, the checks run, the results are written in a short transaction.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import or_, select, update

from ..config import setting, split_list
from ..extensions import db
from ..models import CrmSender, Mailbox, SenderState, SmtpAccount
from ..models.smtp_server import settings_for
from ..smtp import CheckResult, SmtpSettings, check
from ..smtp.imap import check_imap
from ..smtp.settings import InvalidSettings
from ..timeutil import utcnow
from .module_settings import effective_policy, get_module_settings
from .storage import upsert_insert
from .transports import KIND_NAMES

log = logging.getLogger(__name__)

WHERE_TO_FIX = {
    "account": "Сервисы → Отправка почты через SMTP → SMTP-аккаунты",
    "mailbox": "Почта → ящик → Настройка SMTP отправки",
    "sender": "CRM → письмо клиенту → SMTP-сервера",
}


@dataclass(frozen=True)
class Target:
    """One sender to re-check, read before the network is touched."""

    kind: str
    id: int
    address: str
    #: The host user's key (text) who owns it; None for admin accounts.
    owner: str | None
    smtp: SmtpSettings | None = None
    imap: SmtpSettings | None = None
    #: Why its settings cannot be used at all (a secret no key decrypts, …).
    broken: str = ""


def interval() -> timedelta | None:
    """How often a sender is re-checked (``SMTP_HEALTH_INTERVAL_SECONDS``; 0: never)."""
    seconds = float(setting("SMTP_HEALTH_INTERVAL_SECONDS"))
    return timedelta(seconds=seconds) if seconds > 0 else None


def failures_to_notify() -> int:
    return max(1, int(setting("SMTP_HEALTH_FAILURES_TO_NOTIFY")))


def _candidates() -> Iterable[tuple[str, int]]:
    yield from (("account", i) for i in db.session.scalars(
        select(SmtpAccount.id).where(SmtpAccount.active.is_(True))))
    yield from (("mailbox", i) for i in db.session.scalars(select(Mailbox.id)))
    yield from (("sender", i) for i in db.session.scalars(
        select(CrmSender.id).where(CrmSender.has_smtp.is_(True))))


def due(now: datetime, limit: int) -> list[tuple[str, int]]:
    """The senders whose last re-check is older than the interval, the oldest first."""
    every = interval()
    if every is None:
        return []
    checked = {(kind, key): at for kind, key, at in db.session.execute(select(
        SenderState.transport_type, SenderState.transport_id, SenderState.health_checked_at))}
    waiting = [(checked.get(key) or datetime.min, key) for key in _candidates()
               if checked.get(key) is None or checked[key] <= now - every]
    return [key for _, key in sorted(waiting)[:limit]]


def _target(kind: str, key: int, timeout: float) -> Target | None:
    try:
        if kind == "account":
            account = db.session.get(SmtpAccount, key)
            return Target(kind, key, account.email, None, smtp=settings_for(account, timeout))
        if kind == "sender":
            sender = db.session.get(CrmSender, key)
            return Target(kind, key, sender.email, str(sender.user_id),
                          smtp=settings_for(sender, timeout))
        mailbox = db.session.get(Mailbox, key)
        imap = SmtpSettings(host=mailbox.imap_host, port=mailbox.imap_port,
                            security=mailbox.imap_security, auth="login",
                            login=mailbox.imap_login, password=mailbox.imap_password or "",
                            timeout=timeout)
        own = mailbox.sending is not None and mailbox.sending.enabled
        return Target(kind, key, mailbox.email, str(mailbox.user_id), imap=imap,
                      smtp=settings_for(mailbox.sending, timeout) if own else None)
    except InvalidSettings as error:
        owner = None if kind == "account" else _owner(kind, key)
        return Target(kind, key, _address(kind, key), owner, broken=str(error))
    except AttributeError:  # deleted meanwhile
        return None


def _owner(kind: str, key: int) -> str | None:
    model = Mailbox if kind == "mailbox" else CrmSender
    found = db.session.get(model, key)
    return str(found.user_id) if found is not None else None


def _address(kind: str, key: int) -> str:
    model = {"account": SmtpAccount, "mailbox": Mailbox, "sender": CrmSender}[kind]
    found = db.session.get(model, key)
    return found.email if found is not None else ""


@dataclass(frozen=True)
class Verdict:
    """A target's re-check: the SMTP and IMAP results (None where not checked)."""

    target: Target
    smtp: CheckResult | None
    imap: CheckResult | None

    @property
    def ok(self) -> bool:
        return all(r is None or r.ok for r in (self.smtp, self.imap)) and not self.target.broken

    @property
    def message(self) -> str:
        if self.target.broken:
            return self.target.broken
        failed = [(what, r) for what, r in (("IMAP", self.imap), ("SMTP", self.smtp))
                  if r is not None and not r.ok]
        return " ".join(f"{what}: {r.message}" for what, r in failed)


def _run_check(target: Target, policy, ehlo: str | None) -> Verdict:
    if target.broken:
        return Verdict(target, None, None)
    imap = check_imap(target.imap, policy=policy) if target.imap is not None else None
    smtp = check(target.smtp, sender=target.address, policy=policy, ehlo_hostname=ehlo,
                 label=target.address) if target.smtp is not None else None
    return Verdict(target, smtp, imap)


def run_due_checks(now: datetime | None = None, *, limit: int = 20) -> int:
    """Re-check up to ``limit`` senders that are due; returns how many were checked."""
    now = now or utcnow()
    timeout = get_module_settings().default_timeout
    taken = _take(due(now, limit), now)
    targets = [t for t in (_target(kind, key, timeout) for kind, key in taken) if t]
    if not targets:
        db.session.rollback()
        return 0
    policy, ehlo = effective_policy(), setting("SMTP_EHLO_HOSTNAME")
    db.session.rollback()  # nothing changed: no transaction held while servers answer
    verdicts = [_run_check(target, policy, ehlo) for target in targets]
    for verdict in verdicts:
        _record(verdict, now)
    db.session.commit()
    return len(verdicts)


def _take(keys: list[tuple[str, int]], now: datetime) -> list[tuple[str, int]]:
    """Claim the due senders for this process (committed): with workers on several machines,
    each sender is checked — and its owner told — by one of them."""
    every = interval()
    if not keys or every is None:
        return []
    cutoff, taken = now - every, []
    for kind, key in keys:
        _state(kind, key)
        claimed = db.session.execute(update(SenderState).where(
            SenderState.transport_type == kind, SenderState.transport_id == key,
            or_(SenderState.health_checked_at.is_(None),
                SenderState.health_checked_at <= cutoff))
            .values(health_checked_at=now)).rowcount
        if claimed:
            taken.append((kind, key))
    db.session.commit()
    return taken


def _state(kind: str, key: int) -> SenderState:
    maker = upsert_insert(db.engine.dialect.name)
    db.session.execute(maker(SenderState).values(
        transport_type=kind, transport_id=key, reservations=0, pause_reason="",
        health_failures=0).on_conflict_do_nothing())
    return db.session.get(SenderState, (kind, key))


def _record(verdict: Verdict, now: datetime) -> None:
    target = verdict.target
    kind, key = target.kind, target.id
    if kind == "account":
        obj = db.session.get(SmtpAccount, key)
        keeper = obj
    elif kind == "sender":
        obj = keeper = db.session.get(CrmSender, key)
    else:
        obj = db.session.get(Mailbox, key)
        keeper = obj.sending if obj is not None else None
        if obj is not None and verdict.imap is not None:
            obj.imap_check_at, obj.imap_check_ok = now, verdict.imap.ok
            obj.imap_check_message = verdict.imap.message
    if obj is None:  # deleted while it was checked
        return
    if keeper is not None and verdict.smtp is not None:
        keeper.record_check(verdict.smtp)
    state = _state(kind, key)
    state.health_checked_at = now
    if verdict.ok:
        state.health_failures, state.health_notified_at = 0, None
        return
    state.health_failures += 1
    if state.health_failures >= failures_to_notify() and state.health_notified_at is None \
            and notify(target, verdict.message):
        state.health_notified_at = now


def recipients_for(target: Target) -> list[str]:
    """Who is told: the owner; administrators (``SMTP_ADMIN_EMAILS``) for an admin account."""
    if target.kind == "account":
        return split_list(setting("SMTP_ADMIN_EMAILS"))
    from ..extension import user_by_key, user_email

    user = user_by_key(target.owner) if target.owner is not None else None
    email = user_email(user) if user is not None else ""
    return [email] if email else []


def notify(target: Target, message: str) -> bool:
    """Queue one letter about a failing sender through the system sender; whether it was."""
    from .outbox import SendRefused, send_mail

    sender, to = setting("SMTP_SYSTEM_FROM"), recipients_for(target)
    if not sender or not to:
        log.warning("portal_smtp: %s %s fails its checks; nobody could be told (%s)",
                    target.kind, target.address,
                    "SMTP_SYSTEM_FROM is unset" if not sender else "no address to tell")
        return False
    letter = EmailMessage()
    letter["From"] = sender
    letter["To"] = ", ".join(to)
    letter["Subject"] = f"Отправка почты: {KIND_NAMES[target.kind]} {target.address} " \
                        "не проходит проверку"
    letter.set_content(
        f"{KIND_NAMES[target.kind]} {target.address} не прошёл проверку "
        f"{failures_to_notify()} раз подряд, письма через него могут не уходить.\n\n"
        f"Причина: {message}\n\n"
        f"Где исправить: {WHERE_TO_FIX[target.kind]}.\n"
        "Это письмо приходит один раз; следующее — только если отправитель снова начнёт "
        "ошибаться после восстановления.\n")
    try:
        send_mail(letter, commit=False)
    except SendRefused as error:
        log.warning("portal_smtp: the health notice for %s was refused: %s",
                    target.address, error)
        return False
    return True


def failing(now: datetime | None = None) -> list[tuple[SenderState, object]]:
    """Senders failing at least ``SMTP_HEALTH_FAILURES_TO_NOTIFY`` checks in a row, with the
    account, mailbox or CRM sender each one is."""
    models = {"account": SmtpAccount, "mailbox": Mailbox, "sender": CrmSender}
    states = db.session.scalars(select(SenderState).where(
        SenderState.health_failures >= failures_to_notify())).all()
    found = []
    for state in states:
        obj = db.session.get(models[state.transport_type], state.transport_id)
        if obj is not None:
            found.append((state, obj))
    return found


def alerts_for(user_key: str | None, admin: bool) -> list[str]:
    """The banner's lines for a user: their failing mailboxes and CRM senders and, for an
    administrator, the failing admin accounts (SPEC §17)."""
    lines = []
    for state, obj in failing():
        kind = state.transport_type
        mine = kind != "account" and user_key is not None and str(obj.user_id) == user_key
        if not (mine or (admin and kind == "account")):
            continue
        lines.append(f"{KIND_NAMES[kind]} {obj.email} не проходит проверку "
                     f"({state.health_failures} раз подряд): письма через него могут не "
                     f"уходить. Где исправить: {WHERE_TO_FIX[kind]}.")
    return lines


def system_sender_problem() -> str | None:
    """Why notifications and confirmation codes cannot go out, for «Настройки»; None if they
    can: ``SMTP_SYSTEM_FROM`` is unset, or no active admin account serves that address."""
    from .routing import route_for

    sender = setting("SMTP_SYSTEM_FROM")
    if not sender:
        return ("Системный отправитель не задан (SMTP_SYSTEM_FROM): уведомления о сбоях "
                "отправителей и коды подтверждения не отправляются.")
    if route_for(sender, mailing=False).transport is None:
        return (f"Системный отправитель {sender} (SMTP_SYSTEM_FROM) не обслуживается ни одним "
                "активным SMTP-аккаунтом: уведомления и коды подтверждения не уйдут. Добавьте "
                "SMTP-аккаунт с этим адресом.")
    return None
