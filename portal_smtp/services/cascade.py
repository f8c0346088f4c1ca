"""The one place that removes a mailbox, its sending, a CRM sender or a host's user, with
everything that hangs on them.

Both the «Почта» pages and the CRM call these functions. Each runs inside the caller's
transaction — a failure in the middle leaves nothing half-deleted — and is recorded (who,
what, when). Letters still waiting for a removed sender fail with the reason the user sees:
they are never dropped silently, and never moved to another transport (SPEC §8).
"""
from __future__ import annotations

from flask import current_app
from sqlalchemy import delete, select

from ..extension import HostUser, user_key, user_name
from ..extensions import db
from ..models import (
    CascadeRecord,
    CrmSender,
    EmailTemplate,
    Mailbox,
    OutboxMessage,
    OutboxStatus,
    SenderConfirmation,
)
from ..signals import mailbox_deleted, mailbox_sending_disabled
from .routing import SENDING_OFF, fail_letter, fail_letters_of_sender


def _owners_senders(mailbox: Mailbox, *, smtp_only: bool) -> list[CrmSender]:
    query = select(CrmSender).where(CrmSender.user_id == mailbox.user_id,
                                    CrmSender.email_normalized == mailbox.email_normalized)
    if smtp_only:
        query = query.where(CrmSender.has_smtp.is_(True))
    return list(db.session.scalars(query))


def _remove_senders(senders: list[CrmSender]) -> list[str]:
    notes = []
    for sender in senders:
        failed = fail_letters_of_sender(sender)
        notes.append(f"CRM-отправитель {sender.email} (#{sender.id}) удалён; писем не "
                     f"отправлено: {failed}")
        db.session.delete(sender)
    return notes


def delete_sender(sender: CrmSender, actor: HostUser | None) -> None:
    """Delete a CRM sender: its waiting letters fail with «Отправитель удалён …»."""
    _record(actor, "sender_deleted", _remove_senders([sender]))


def _record(actor: HostUser | None, action: str, notes: list[str]) -> None:
    db.session.add(CascadeRecord(actor_id=user_key(actor) if actor else None, action=action,
                                 details="\n".join(notes)))
    db.session.flush()
    current_app.logger.info("Cascade %s by %s: %s", action,
                            user_name(actor) if actor else "system", "; ".join(notes))


def disable_mailbox_sending(mailbox: Mailbox, actor: HostUser | None) -> bool:
    """«Отключить»: remove the mailbox's sending settings and the owner's CRM SMTP sender with
    the same address; returns whether there were settings."""
    if mailbox.sending is None:
        return False
    failed = fail_letters_of_sender(mailbox, own_server_only=True,
                                    reason=SENDING_OFF.format(address=mailbox.email))
    db.session.delete(mailbox.sending)
    mailbox.sending = None
    db.session.flush()
    notes = [f"Отправка ящика {mailbox.email} (#{mailbox.id}) отключена; писем не "
             f"отправлено: {failed}"]
    notes += _remove_senders(_owners_senders(mailbox, smtp_only=True))
    _record(actor, "mailbox_sending_disabled", notes)
    mailbox_sending_disabled.send(mailbox, actor=actor)
    return True


def delete_mailbox(mailbox: Mailbox, actor: HostUser | None) -> None:
    """Delete a mailbox with its sending settings and the owner's CRM sender of its address."""
    disable_mailbox_sending(mailbox, actor)
    mailbox_id, email = mailbox.id, mailbox.email
    failed = fail_letters_of_sender(mailbox)  # those waiting for an admin account
    notes = [f"Ящик {email} (#{mailbox_id}) удалён; писем не отправлено: {failed}"]
    notes += _remove_senders(_owners_senders(mailbox, smtp_only=False))
    db.session.delete(mailbox)
    db.session.flush()
    _record(actor, "mailbox_deleted", notes)
    mailbox_deleted.send(None, mailbox_id=mailbox_id, email=email, actor=actor)




USER_REMOVED = "Пользователь удалён — письмо не отправлено."


def user_removed(key: object, actor: HostUser | None = None) -> None:
    """The host removed (or is removing) a user: their mailboxes and CRM senders go with
    everything that hangs on them, their letters still waiting fail with the reason — never
    re-routed — and their pending confirmations and templates are deleted (SPEC §16).

    :param key: the user's key in the host (the module has no foreign key to the host's
        table, so this works before or after the host's own delete).
    """
    notes = [f"Пользователь {key} удалён"]
    for mailbox in db.session.scalars(select(Mailbox).where(Mailbox.user_id == key)).all():
        delete_mailbox(mailbox, actor)
    notes += _remove_senders(list(db.session.scalars(
        select(CrmSender).where(CrmSender.user_id == key))))
    failed = 0
    for letter in db.session.scalars(select(OutboxMessage).where(
            OutboxMessage.created_by_id == key,
            OutboxMessage.status.in_(OutboxStatus.waiting()))):
        fail_letter(letter, USER_REMOVED)
        failed += 1
    notes.append(f"Его писем не отправлено: {failed}")
    for model in (SenderConfirmation, EmailTemplate):
        db.session.execute(delete(model).where(model.user_id == key))
    _record(actor, "user_removed", notes)


__all__ = ["delete_mailbox", "delete_sender", "disable_mailbox_sending", "user_removed"]
