"""Signals the services send after they change something, for the host to react to.

Deletions announce themselves (STYLE.md): a host that keeps something of its own about an
SMTP account or a mailbox removes it here; the module's own reaction — letters failed or
re-routed — is done by :mod:`.services.cascade` and :mod:`.services.routing`, before the
signal. Letter signals carry the outbox id, for a host's own timeline. Receivers run inside
the sender's transaction, before its commit: one that raises leaves the change uncommitted.
"""
from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: Admin SMTP accounts were deleted: ``sender=None, ids=[...]``.
accounts_deleted = _signals.signal("portal-smtp-accounts-deleted")
#: A letter was stored in the outbox: ``sender=letter``.
letter_queued = _signals.signal("portal-smtp-letter-queued")
#: A delivery attempt finished: ``sender=None, outbox_id=…, status=…``.
letter_attempted = _signals.signal("portal-smtp-letter-attempted")
#: A mailbox's external SMTP sending was switched off: ``sender=mailbox, actor=user``.
mailbox_sending_disabled = _signals.signal("portal-smtp-mailbox-sending-disabled")
#: A mailbox was deleted: ``sender=None, mailbox_id=…, email=…, actor=user``.
mailbox_deleted = _signals.signal("portal-smtp-mailbox-deleted")
#: The composer queued a letter from a host's CRM entity: ``sender=None, outbox_id=…,
#: entity=EntityRef(kind, id, title, email), user=…, subject=…, summary=…`` — the host
#: records it on its own timeline (in the same transaction).
composer_letter_queued = _signals.signal("portal-smtp-composer-letter-queued")
#: The host removed a user and the module cascaded: ``sender=None, key=…``.
user_removed = _signals.signal("portal-smtp-user-removed")
