"""Loading the SMTP server a letter goes through, from its transport key.

A transport is named by a kind and an id ("account", 7). Each kind registers a loader that
turns the id into SMTP settings; mailboxes and CRM senders register theirs. The outbox
stores the key :mod:`.routing` chose, and a worker loads it again for every delivery.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..extensions import db
from ..models import SmtpAccount
from ..smtp import SmtpSettings
from ..smtp.settings import host_port
from .module_settings import get_module_settings


@dataclass(frozen=True)
class Transport:
    """Loaded SMTP settings for one transport key."""

    type: str
    id: int
    settings: SmtpSettings
    #: How the log names it, e.g. "Рассылка <letter@34web.ru> — smtp.34web.ru:465".
    label: str


Loader = Callable[[int, int], Transport | None]
_LOADERS: dict[str, Loader] = {}


def register_transport(kind: str, loader: Loader) -> None:
    """Register how to load transports of ``kind``: ``loader(id, default_timeout)``."""
    _LOADERS[kind] = loader


def load_transport(kind: str, transport_id: int | None) -> Transport | None:
    """Load a stored transport key; ``None`` when it is gone or switched off."""
    loader = _LOADERS.get(kind)
    if loader is None or transport_id is None:
        return None
    return loader(transport_id, get_module_settings().default_timeout)


def _load_account(account_id: int, default_timeout: int) -> Transport | None:
    account = db.session.get(SmtpAccount, account_id)
    if account is None or not account.active:
        return None
    name = f"{account.sender_name} <{account.email}>" if account.sender_name else account.email
    return Transport("account", account.id, account.smtp_settings(default_timeout),
                     f"{name} — {host_port(account.host, account.port)} "
                     f"(аккаунт #{account.id})")


register_transport("account", _load_account)
