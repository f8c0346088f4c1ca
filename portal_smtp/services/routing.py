"""Which transport may send a letter (SPEC §8) — the one place this rule lives.

A letter is bound to its sender when it is queued: a mailbox or a CRM sender
(``sender_type``, ``sender_id``), or none for the portal's own letters (``send_mail``
without a sender). Its transport is

- the sender's own SMTP server, when it has one;
- else an admin account the resolver picks for the From address — only when the sender's
  right to that address is proven (a CRM sender confirmed by a code; a mailbox whose IMAP
  login succeeded at the server the address's own domain designates, or confirmed by a
  code). The portal's own letters always go through the resolver;
- else nothing, and the letter fails with the reason.

A letter never moves to another sender, and a letter bound to a user's own server never
moves to another transport. Only a letter that goes through an admin account is resolved
again when that account is deleted or switched off — the proof is of the address, not of the
account. Queueing, the worker, the cascade, account changes and «Повторить» all ask
:func:`route_for` or :func:`route_again`.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from flask import current_app
from sqlalchemy import select

from ..extensions import db
from ..models import CrmSender, LogStatus, Mailbox, OutboxMessage, OutboxStatus, SendLog
from .resolver import resolve

#: Transport kinds that are a user's own server (a letter bound to one never moves).
OWN_SERVERS = ("mailbox", "sender")

SENDER_DELETED = "Отправитель удалён — письмо не отправлено."
SENDING_OFF = ("Отправка через SMTP-сервер отправителя {address} отключена — письмо не "
               "отправлено.")


class Sender(Protocol):
    """A mailbox or a CRM sender, as the routing rule sees it."""

    id: int
    email: str

    @property
    def sender_key(self) -> tuple[str, int]:
        """("mailbox", id) or ("sender", id)."""

    @property
    def transport_key(self) -> tuple[str, int] | None:
        """Its own SMTP server's transport key, or None."""

    @property
    def address_proven(self) -> bool:
        """Whether the user's right to the address is proven."""


class Letter(Protocol):
    """What routing reads of a letter: an :class:`OutboxMessage` or a claimed row."""

    from_header: str
    mailing: bool
    sender_type: str
    sender_id: int | None
    transport_type: str
    transport_id: int | None


@dataclass(frozen=True)
class Route:
    """A transport key for a letter, or the Russian reason why there is none."""

    transport: tuple[str, int] | None
    reason: str = ""


def no_account_reason(from_header: str) -> str:
    """«Не найден SMTP-аккаунт для отправителя …»."""
    return (f"Не найден SMTP-аккаунт для отправителя {from_header}. Добавьте активный "
            "SMTP-аккаунт с этим адресом или настройте отправку для ящика.")


def not_proven_reason(address: str) -> str:
    """Why an admin account may not send for an unproven address."""
    return (f"Адрес {address} не подтверждён: через SMTP-аккаунт портала можно отправлять "
            "только с адреса, принадлежность которого доказана (кодом из письма или входом в "
            "ящик на сервере его домена). Подтвердите адрес кодом или укажите для "
            "отправителя собственный SMTP-сервер.")


def _via_account(from_header: str, mailing: bool) -> Route:
    account = resolve(from_header, mailing=mailing)
    if account is None:
        return Route(None, no_account_reason(from_header))
    return Route(("account", account.id))


def route_for(from_header: str, *, mailing: bool, sender: Sender | None = None) -> Route:
    """The transport of a new letter from ``sender`` (None: the portal's own letter)."""
    if sender is None:
        return _via_account(from_header, mailing)
    if sender.transport_key is not None:
        return Route(sender.transport_key)
    if not sender.address_proven:
        return Route(None, not_proven_reason(sender.email))
    return _via_account(from_header, mailing)


def load_sender(kind: str, sender_id: int | None) -> Mailbox | CrmSender | None:
    """The sender a letter is bound to, or None when it was deleted."""
    model = {"mailbox": Mailbox, "sender": CrmSender}.get(kind)
    if model is None or sender_id is None:
        return None
    return db.session.get(model, sender_id)


def route_again(letter: Letter) -> Route:
    """The transport of a letter whose transport is gone, or of a failed letter sent again.

    The letter keeps its sender; a letter bound to its sender's own server only ever goes
    there; the portal's own letters and proven addresses are resolved again among the
    active admin accounts.
    """
    if not letter.sender_type:
        return _via_account(letter.from_header, letter.mailing)
    sender = load_sender(letter.sender_type, letter.sender_id)
    if sender is None:
        return Route(None, SENDER_DELETED)
    if letter.transport_type in OWN_SERVERS:
        if sender.transport_key == (letter.transport_type, letter.transport_id):
            return Route(sender.transport_key)
        return Route(None, SENDING_OFF.format(address=sender.email))
    return route_for(letter.from_header, mailing=letter.mailing, sender=sender)


def fail_letter(letter: OutboxMessage, reason: str) -> None:
    """Fail a waiting letter with ``reason`` and log it (nothing is dropped silently)."""
    letter.status, letter.last_error = OutboxStatus.FAILED.value, reason
    letter.claimed_by = letter.lease_until = None
    db.session.add(SendLog(outbox_id=letter.id, attempt=letter.attempts,
                           status=LogStatus.FAILED.value, transport_type=letter.transport_type,
                           transport_id=letter.transport_id, error=reason))


def _waiting(*where) -> Iterable[OutboxMessage]:
    return db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.status.in_(OutboxStatus.waiting()), *where).order_by(OutboxMessage.id))


def fail_letters_of_sender(sender: Sender, *, own_server_only: bool = False,
                           reason: str = SENDER_DELETED) -> int:
    """A sender is deleted (or, ``own_server_only``, its own server switched off): its
    waiting letters fail with ``reason``. Returns how many."""
    kind, sender_id = sender.sender_key
    where = [OutboxMessage.sender_type == kind, OutboxMessage.sender_id == sender_id]
    if own_server_only:
        where.append(OutboxMessage.transport_type.in_(OWN_SERVERS))
    failed = 0
    for letter in _waiting(*where):
        fail_letter(letter, reason)
        failed += 1
    db.session.flush()
    return failed


def accounts_left(account_ids: Iterable[int]) -> tuple[int, int]:
    """Admin accounts were deleted or switched off: their waiting letters are resolved again
    among the active accounts, or fail with the reason. Returns (re-routed, failed)."""
    ids = list(account_ids)
    if not ids:
        return 0, 0
    rerouted = failed = 0
    for letter in _waiting(OutboxMessage.transport_type == "account",
                           OutboxMessage.transport_id.in_(ids)):
        route = route_again(letter)
        if route.transport is not None and route.transport[1] not in ids:
            letter.transport_type, letter.transport_id = route.transport
            letter.claimed_by = letter.lease_until = None
            rerouted += 1
            continue
        fail_letter(letter, route.reason or no_account_reason(letter.from_header))
        failed += 1
    db.session.flush()
    if rerouted or failed:
        current_app.logger.info("Letters of removed SMTP accounts %s: %s re-routed, %s failed",
                                ids, rerouted, failed)
    return rerouted, failed


def judge_mailbox_proof(mailbox: Mailbox) -> str:
    """Whether the mailbox's IMAP login proves the user's right to its address (SPEC §8).

    Proven by IMAP: settings from the directory provider matched by the address's domain
    (not one picked by hand, not typed) and a login equal to the address or derived from
    it by that provider's login format. A code confirmation, once given, stays while the
    address is unchanged. Returns the new ``address_proof``.
    """
    if mailbox.address_proof == "code":
        return "code"
    address = mailbox.email_normalized
    local_part = address.rpartition("@")[0]
    login = (mailbox.imap_login or "").strip().lower()
    provider = mailbox.provider
    derived = {address}
    if provider is not None and provider.login_format in ("local_part", "manual"):
        derived.add(local_part)
    if mailbox.imap_source == "directory" and provider is not None and login in derived:
        return "imap"
    return ""


__all__ = [
    "SENDER_DELETED",
    "Route",
    "accounts_left",
    "fail_letter",
    "fail_letters_of_sender",
    "judge_mailbox_proof",
    "load_sender",
    "no_account_reason",
    "route_again",
    "route_for",
]
