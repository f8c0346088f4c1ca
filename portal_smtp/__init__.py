"""portal_smtp: outgoing mail of a Flask portal through external SMTP servers.

:class:`PortalSmtp` is the extension: ``PortalSmtp(app, db=db, …)`` (SPEC §16). The demo
portal built around it is :func:`portal_smtp.portal.create_app`, which is what ``wsgi.py``
serves; nothing here imports it.
"""
from __future__ import annotations

from email.message import EmailMessage
from typing import Any

from .extension import EntityRef, PortalSmtp
from .paths import MIGRATIONS_DIR

__all__ = ["MIGRATIONS_DIR", "EntityRef", "PortalSmtp", "send_mail", "user_removed"]
__version__ = "0.1.0"


def send_mail(message: EmailMessage, *, mailing: bool = False, sender: Any = None,
              commit: bool = True, **kwargs: Any) -> int:
    """Queue ``message`` in the outbox and return its id (SPEC §11, §14).

    :param mailing: the letter belongs to a mass mailing.
    :param sender: the mailbox or CRM sender the letter is bound to (None: the portal's own).
    :param commit: commit the session; ``False`` keeps the caller's transaction open.
    Raises :class:`~portal_smtp.services.outbox.SendRefused` with a Russian message.
    """
    from .services.outbox import send_mail as queue  # imported late: it needs the models

    return queue(message, mailing=mailing, sender=sender, commit=commit, **kwargs)


def user_removed(user_or_key: Any, *, actor: Any = None, commit: bool = True) -> None:
    """Tell the module the host removed a user (before or after its own delete): the user's
    mailboxes and CRM senders go, their waiting letters fail with the reason, never
    re-routed. Takes the user object or its key.
    """
    from . import signals
    from .extension import user_key
    from .extensions import db
    from .services.cascade import user_removed as cascade

    # A mapped user object has a table; anything else is the key itself (int, UUID, text).
    key = user_key(user_or_key) if hasattr(user_or_key, "__table__") else user_or_key
    cascade(key, actor)
    signals.user_removed.send(None, key=key)
    if commit:
        db.session.commit()
