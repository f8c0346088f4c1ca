"""The module's database models; importing this package registers them all."""
from .account import SmtpAccount
from .crm import (
    CascadeRecord,
    CrmActivity,
    CrmEntity,
    CrmSender,
    EmailTemplate,
    SenderConfirmation,
)
from .mail import Mailbox, MailboxSending, MailProvider, MailProviderDomain
from .module_settings import ModuleSettings
from .outbox import OutboxMessage, OutboxStatus, SendLog
from .types import EncryptedText
from .user import Role, User

__all__ = [
    "CascadeRecord",
    "CrmActivity",
    "CrmEntity",
    "CrmSender",
    "EmailTemplate",
    "EncryptedText",
    "MailProvider",
    "MailProviderDomain",
    "Mailbox",
    "MailboxSending",
    "ModuleSettings",
    "OutboxMessage",
    "OutboxStatus",
    "Role",
    "SendLog",
    "SenderConfirmation",
    "SmtpAccount",
    "User",
]
