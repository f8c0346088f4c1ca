"""The one place that removes a mailbox or its sending, with everything that hangs on them.

Both the «Почта» pages and the CLI call these functions; the CRM senders module extends
the same cascade. Each runs inside the caller's transaction, so a failure in the middle
leaves nothing half-deleted. Letters still queued for a removed mailbox are re-routed by
the resolver when a worker takes them, or fail with a clear reason.
"""
from __future__ import annotations

from flask import current_app

from ..extensions import db
from ..models import Mailbox, User
from ..signals import mailbox_deleted, mailbox_sending_disabled


def disable_mailbox_sending(mailbox: Mailbox, actor: User | None) -> bool:
    """«Отключить»: remove the mailbox's sending settings; returns whether there were any."""
    if mailbox.sending is None:
        return False
    db.session.delete(mailbox.sending)
    mailbox.sending = None
    db.session.flush()
    mailbox_sending_disabled.send(mailbox, actor=actor)
    current_app.logger.info("Sending of mailbox %s (%s) switched off by %s", mailbox.id,
                            mailbox.email, actor.username if actor else "system")
    return True


def delete_mailbox(mailbox: Mailbox, actor: User | None) -> None:
    """Delete a mailbox together with its sending settings."""
    disable_mailbox_sending(mailbox, actor)
    mailbox_id, email = mailbox.id, mailbox.email
    db.session.delete(mailbox)
    db.session.flush()
    mailbox_deleted.send(None, mailbox_id=mailbox_id, email=email, actor=actor)
    current_app.logger.info("Mailbox %s (%s) deleted by %s", mailbox_id, email,
                            actor.username if actor else "system")
