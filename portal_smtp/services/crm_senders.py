"""CRM senders («От кого»): the list a user may choose from, and their transport."""
from __future__ import annotations

from sqlalchemy import or_, select

from ..extensions import db
from ..models import CrmSender, Mailbox, MailboxSending, User
from .transports import Transport, register_transport


def senders_for(user: User) -> tuple[list[Mailbox], list[CrmSender]]:
    """«От кого»: the user's mailboxes with external SMTP on, then the user's own CRM
    senders and those other users marked «Доступен всем»."""
    mailboxes = list(db.session.scalars(
        select(Mailbox).join(MailboxSending)
        .where(Mailbox.user_id == user.id, MailboxSending.enabled.is_(True))
        .order_by(Mailbox.email)))
    senders = list(db.session.scalars(
        select(CrmSender).where(or_(CrmSender.user_id == user.id, CrmSender.shared.is_(True)))
        .order_by(CrmSender.user_id != user.id, CrmSender.email)))
    return mailboxes, senders


def can_delete(user: User, sender: CrmSender) -> bool:
    """Only the user who added a CRM sender deletes it (shared ones included)."""
    return sender.user_id == user.id


def _load_sender(sender_id: int, default_timeout: int) -> Transport | None:
    sender = db.session.get(CrmSender, sender_id)
    if sender is None or not sender.has_smtp:
        return None
    settings = sender.smtp_settings(default_timeout)
    name = f"{sender.name} <{sender.email}>" if sender.name else sender.email
    return Transport("sender", sender.id, settings,
                     f"{name} — {settings.address} (отправитель CRM "
                     f"#{sender.id})")


register_transport("sender", _load_sender)
