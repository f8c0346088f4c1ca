"""Signals the services send after they change something; other parts react to them."""
from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: An admin SMTP account was created or changed: ``sender=account``.
account_saved = _signals.signal("portal-smtp-account-saved")
#: Admin SMTP accounts were deleted: ``sender=None, ids=[...]``.
accounts_deleted = _signals.signal("portal-smtp-accounts-deleted")
#: The module settings changed: ``sender=settings``.
module_settings_saved = _signals.signal("portal-smtp-module-settings-saved")
#: A letter was stored in the outbox: ``sender=letter``.
letter_queued = _signals.signal("portal-smtp-letter-queued")
#: A delivery attempt finished: ``sender=None, outbox_id=…, status=…``.
letter_attempted = _signals.signal("portal-smtp-letter-attempted")
#: A mailbox's external SMTP sending was switched off: ``sender=mailbox, actor=user``.
mailbox_sending_disabled = _signals.signal("portal-smtp-mailbox-sending-disabled")
#: A mailbox was deleted: ``sender=None, mailbox_id=…, email=…, actor=user``.
mailbox_deleted = _signals.signal("portal-smtp-mailbox-deleted")
