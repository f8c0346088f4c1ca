"""The one place that removes a mailbox or its sending, with everything that hangs on them.

Both the «Почта» pages and the CRM call these functions. Each runs inside the caller's
transaction — a failure in the middle leaves nothing half-deleted — and is recorded (who,
what, when). Letters still queued for a removed transport are re-routed by the resolver at
once, or failed with the reason: never dropped silently.
"""
from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from ..extensions import db
from ..models import CascadeRecord, CrmSender, Mailbox, OutboxMessage, SendLog, User
from ..signals import mailbox_deleted, mailbox_sending_disabled
from .transports import choose_transport

WAITING = ("queued", "deferred")


def _owners_senders(mailbox: Mailbox, *, smtp_only: bool) -> list[CrmSender]:
    query = select(CrmSender).where(CrmSender.user_id == mailbox.user_id,
                                    CrmSender.email_normalized == mailbox.email_normalized)
    if smtp_only:
        query = query.where(CrmSender.has_smtp.is_(True))
    return list(db.session.scalars(query))


def reroute_waiting_letters(transport_type: str, transport_id: int) -> tuple[int, int]:
    """Letters waiting for a removed transport go through the resolver, or fail with the
    reason. Returns (re-routed, failed)."""
    letters = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.transport_type == transport_type,
        OutboxMessage.transport_id == transport_id, OutboxMessage.status.in_(WAITING)))
    rerouted = failed = 0
    for letter in letters:
        key = choose_transport(letter.from_header, mailing=letter.mailing)
        if key is not None:
            letter.transport_type, letter.transport_id = key
            rerouted += 1
            continue
        reason = (f"Отправитель {letter.envelope_from} удалён до отправки письма, а другого "
                  "способа отправить письмо с этого адреса нет — письмо не отправлено.")
        letter.status, letter.last_error = "failed", reason
        letter.claimed_by = letter.lease_until = None
        db.session.add(SendLog(outbox_id=letter.id, attempt=letter.attempts, status="failed",
                               error=reason))
        failed += 1
    db.session.flush()
    return rerouted, failed


def _remove_senders(senders: list[CrmSender]) -> list[str]:
    notes = []
    for sender in senders:
        rerouted, failed = reroute_waiting_letters("sender", sender.id)
        notes.append(f"CRM-отправитель {sender.email} (#{sender.id}) удалён; писем "
                     f"перенаправлено: {rerouted}, не отправлено: {failed}")
        db.session.delete(sender)
    return notes


def _record(actor: User | None, action: str, notes: list[str]) -> None:
    db.session.add(CascadeRecord(actor_id=actor.id if actor else None, action=action,
                                 details="\n".join(notes)))
    db.session.flush()
    current_app.logger.info("Cascade %s by %s: %s", action,
                            actor.username if actor else "system", "; ".join(notes))


def disable_mailbox_sending(mailbox: Mailbox, actor: User | None) -> bool:
    """«Отключить»: remove the mailbox's sending settings and the owner's CRM SMTP sender with
    the same address; returns whether there were settings."""
    if mailbox.sending is None:
        return False
    db.session.delete(mailbox.sending)
    mailbox.sending = None
    db.session.flush()
    rerouted, failed = reroute_waiting_letters("mailbox", mailbox.id)
    notes = [f"Отправка ящика {mailbox.email} (#{mailbox.id}) отключена; писем "
             f"перенаправлено: {rerouted}, не отправлено: {failed}"]
    notes += _remove_senders(_owners_senders(mailbox, smtp_only=True))
    _record(actor, "mailbox_sending_disabled", notes)
    mailbox_sending_disabled.send(mailbox, actor=actor)
    return True


def delete_mailbox(mailbox: Mailbox, actor: User | None) -> None:
    """Delete a mailbox with its sending settings and the owner's CRM sender of its address."""
    disable_mailbox_sending(mailbox, actor)
    mailbox_id, email = mailbox.id, mailbox.email
    notes = [f"Ящик {email} (#{mailbox_id}) удалён"]
    notes += _remove_senders(_owners_senders(mailbox, smtp_only=False))
    db.session.delete(mailbox)
    db.session.flush()
    _record(actor, "mailbox_deleted", notes)
    mailbox_deleted.send(None, mailbox_id=mailbox_id, email=email, actor=actor)


__all__ = ["delete_mailbox", "disable_mailbox_sending", "reroute_waiting_letters"]
