"""The module's database models; importing this package registers them all."""
from .account import SmtpAccount
from .types import EncryptedText
from .user import Role, User

__all__ = ["EncryptedText", "Role", "SmtpAccount", "User"]
