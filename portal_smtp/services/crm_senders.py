"""CRM senders («От кого»): the list a user may choose from, and who may delete one."""
from __future__ import annotations

from sqlalchemy import or_, select

from ..extension import HostUser, user_key
from ..extensions import db
from ..models import CrmSender, Mailbox, MailboxSending


def senders_for(user: HostUser) -> tuple[list[Mailbox], list[CrmSender]]:
    """«От кого»: the user's mailboxes with external SMTP on, then the user's own CRM
    senders and those other users marked «Доступен всем»."""
    mailboxes = list(db.session.scalars(
        select(Mailbox).join(MailboxSending)
        .where(Mailbox.user_id == user_key(user), MailboxSending.enabled.is_(True))
        .order_by(Mailbox.email)))
    key = user_key(user)
    senders = list(db.session.scalars(
        select(CrmSender).where(or_(CrmSender.user_id == key, CrmSender.shared.is_(True)))
        .order_by(CrmSender.user_id != key, CrmSender.email)))
    return mailboxes, senders


def can_delete(user: HostUser, sender: CrmSender) -> bool:
    """Only the user who added a CRM sender deletes it (shared ones included)."""
    return sender.user_id == user_key(user)
