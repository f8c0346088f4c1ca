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
from .operations import (
    LIMIT_WINDOWS,
    HourlyStats,
    SenderState,
    SendLimitsMixin,
    SendUsage,
    WorkerHeartbeat,
)
from .outbox import LogStatus, OutboxMessage, OutboxStatus, SendLog
from .types import EncryptedText, UserKey

__all__ = [
    "LIMIT_WINDOWS",
    "CascadeRecord",
    "CrmSender",
    "EmailTemplate",
    "EncryptedText",
    "HourlyStats",
    "LogStatus",
    "MailProvider",
    "MailProviderDomain",
    "Mailbox",
    "MailboxSending",
    "ModuleSettings",
    "OutboxMessage",
    "OutboxStatus",
    "SendLimitsMixin",
    "SendLog",
    "SendUsage",
    "SenderConfirmation",
    "SenderState",
    "SmtpAccount",
    "UserKey",
    "WorkerHeartbeat",
]
