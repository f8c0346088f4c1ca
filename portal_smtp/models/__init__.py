"""The module's database models; importing this package registers them all."""
from .account import SmtpAccount
from .crm import (
    CascadeRecord,
    CrmSender,
    EmailTemplate,
    SenderConfirmation,
)
from .mail import Mailbox, MailboxSending, MailProvider, MailProviderDomain
from .module_settings import ModuleSettings
from .outbox import LogStatus, OutboxMessage, OutboxStatus, SendLog
from .types import EncryptedText, UserKey

__all__ = [
    "CascadeRecord",
    "CrmSender",
    "EmailTemplate",
    "EncryptedText",
    "LogStatus",
    "MailProvider",
    "MailProviderDomain",
    "Mailbox",
    "MailboxSending",
    "ModuleSettings",
    "OutboxMessage",
    "OutboxStatus",
    "SendLog",
    "SenderConfirmation",
    "SmtpAccount",
    "UserKey",
]
