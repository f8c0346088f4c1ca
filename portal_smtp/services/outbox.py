"""``send_mail``: queue a letter in the durable outbox, inside the caller's transaction."""
from __future__ import annotations

from email.message import EmailMessage

from flask import current_app
from sqlalchemy import select

from ..extensions import db
from ..models import LogStatus, OutboxMessage, OutboxStatus, SendLog, SmtpAccount
from ..signals import letter_queued
from ..timeutil import utcnow
from ..worker.wakeup import notify_queued
from .letters import InvalidLetter, prepare_letter, serialize
from .module_settings import get_module_settings
from .resolver import apply_sender_name
from .routing import Route, Sender, route_again, route_for

MODULE_OFF = ("Модуль отправки почты через SMTP выключен в настройках — письмо не поставлено "
              "в очередь.")


class SendRefused(ValueError):
    """The letter was not queued; the message is Russian and safe to show."""


def send_mail(message: EmailMessage, *, mailing: bool = False,
              sender: Sender | None = None, commit: bool = True,
              created_by_id: object | None = None) -> int:
    """Queue ``message`` and return its outbox id (SPEC §11, §14). Nothing is sent here.

    :param mailing: the letter belongs to a mass mailing (the resolver's step 1).
    :param sender: the mailbox or CRM sender the letter is bound to; None for the portal's
        own letters (SPEC §8: its own SMTP server, else an admin account only when the
        sender's address is proven — see :mod:`.routing`).
    :param commit: commit the session; pass ``False`` to stay in the caller's transaction.
    :param created_by_id: the host's key of the user who queued it (int, UUID or text).
    :raises SendRefused: the letter is invalid or the module is switched off.

    A letter no transport may send is stored as failed with the reason, so it shows in the
    send log and can be retried once an account exists — never dropped.
    """
    if not get_module_settings().enabled:
        raise SendRefused(MODULE_OFF)
    try:
        prepared = prepare_letter(message)
    except InvalidLetter as error:
        raise SendRefused(str(error)) from None
    if db.session.scalar(select(OutboxMessage.id).where(
            OutboxMessage.message_id == prepared.message_id)) is not None:
        raise SendRefused(f"Письмо с Message-ID {prepared.message_id} уже в очереди.")
    route = route_for(prepared.from_header, mailing=mailing, sender=sender)
    key = route.transport
    if key is not None and key[0] == "account":
        apply_sender_name(prepared.letter, db.session.get(SmtpAccount, key[1]))
    try:
        raw = serialize(prepared)
    except InvalidLetter as error:
        raise SendRefused(str(error)) from None
    letter = OutboxMessage(
        status=OutboxStatus.QUEUED.value, mailing=mailing,
        from_header=str(prepared.letter["From"])[:1000], envelope_from=prepared.envelope_from,
        recipients="\n".join(prepared.recipients), subject=prepared.subject,
        message_id=prepared.message_id, raw=raw,
        transport_type=key[0] if key else "", transport_id=key[1] if key else None,
        sender_type=sender.sender_key[0] if sender is not None else "",
        sender_id=sender.sender_key[1] if sender is not None else None,
        next_attempt_at=utcnow(), created_by_id=created_by_id,
    )
    db.session.add(letter)
    db.session.flush()
    if key is None:
        reason = route.reason
        letter.status = OutboxStatus.FAILED.value
        letter.last_error = reason
        db.session.add(SendLog(outbox_id=letter.id, attempt=0, status=LogStatus.FAILED.value,
                               error=reason))
        current_app.logger.warning("Letter %s has no transport: %s", letter.id, reason)
    db.session.flush()
    if key is not None:
        notify_queued()
    letter_queued.send(letter)
    if commit:
        db.session.commit()
    return letter.id


def retry_letter(letter: OutboxMessage) -> None:
    """«Повторить»: a failed letter goes back to the queue through the transport its sender
    may use now (:func:`.routing.route_again`); a letter whose sender was deleted or switched
    off is refused with that reason."""
    if letter.status != OutboxStatus.FAILED.value:
        raise SendRefused("Повторить можно только письмо с ошибкой.")
    route: Route = route_again(letter)
    if route.transport is None:
        raise SendRefused(route.reason)
    letter.transport_type, letter.transport_id = route.transport
    letter.status = OutboxStatus.QUEUED.value
    letter.next_attempt_at = utcnow()
    letter.claimed_by = letter.lease_until = None
    letter.last_error = ""
    db.session.flush()
    notify_queued()
