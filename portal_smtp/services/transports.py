"""Loading the SMTP server a letter goes through, from its transport key.

A transport is named by a kind and an id ("account", 7): an admin SMTP account, a mailbox
with its own sending settings or a CRM sender with its own server. :data:`LOADERS` names the
loader of each kind, in one place. The outbox stores the key :mod:`.routing` chose, and a
worker loads it again for every delivery.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..extensions import db
from ..models import CrmSender, Mailbox, SmtpAccount
from ..models.smtp_server import settings_for
from ..smtp import SmtpSettings
from ..smtp.settings import host_port
from .module_settings import get_module_settings

#: How pages and letters name each kind of transport (and sender).
KIND_NAMES = {"account": "SMTP-аккаунт", "mailbox": "Почтовый ящик", "sender": "Отправитель CRM"}


@dataclass(frozen=True)
class Transport:
    """Loaded SMTP settings for one transport key."""

    type: str
    id: int
    settings: SmtpSettings
    #: How the log names it, e.g. "Рассылка <letter@34web.ru> — smtp.34web.ru:465".
    label: str


#: ``loader(id, default_timeout)``: the transport, or None when it is gone or switched off.
Loader = Callable[[int, float], Transport | None]


def load_transport(kind: str, transport_id: int | None) -> Transport | None:
    """Load a stored transport key; ``None`` when it is gone or switched off."""
    loader = LOADERS.get(kind)
    if loader is None or transport_id is None:
        return None
    return loader(transport_id, get_module_settings().default_timeout)


def _load_account(account_id: int, default_timeout: float) -> Transport | None:
    account = db.session.get(SmtpAccount, account_id)
    if account is None or not account.active:
        return None
    name = f"{account.sender_name} <{account.email}>" if account.sender_name else account.email
    return Transport("account", account.id, settings_for(account, default_timeout),
                     f"{name} — {host_port(account.host, account.port)} "
                     f"(аккаунт #{account.id})")


def _load_mailbox(mailbox_id: int, default_timeout: float) -> Transport | None:
    mailbox = db.session.get(Mailbox, mailbox_id)
    if mailbox is None or mailbox.sending is None or not mailbox.sending.enabled:
        return None
    settings = settings_for(mailbox.sending, default_timeout)
    return Transport("mailbox", mailbox.id, settings,
                     f"{mailbox.email} — {settings.address} (ящик #{mailbox.id})")


def _load_sender(sender_id: int, default_timeout: float) -> Transport | None:
    sender = db.session.get(CrmSender, sender_id)
    if sender is None or not sender.has_smtp:
        return None
    settings = settings_for(sender, default_timeout)
    name = f"{sender.name} <{sender.email}>" if sender.name else sender.email
    return Transport("sender", sender.id, settings,
                     f"{name} — {settings.address} (отправитель CRM #{sender.id})")


#: Every kind of transport and its loader (routing's transport keys name these kinds).
LOADERS: dict[str, Loader] = {
    "account": _load_account,
    "mailbox": _load_mailbox,
    "sender": _load_sender,
}
