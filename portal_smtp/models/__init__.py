"""The module's database models; importing this package registers them all."""
from .account import SmtpAccount
from .module_settings import ModuleSettings
from .outbox import OutboxMessage, OutboxStatus, SendLog
from .types import EncryptedText
from .user import Role, User

__all__ = [
    "EncryptedText",
    "ModuleSettings",
    "OutboxMessage",
    "OutboxStatus",
    "Role",
    "SendLog",
    "SmtpAccount",
    "User",
]
