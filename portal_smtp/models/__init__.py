"""The module's database models; importing this package registers them all."""
from .account import SmtpAccount
from .module_settings import ModuleSettings
from .types import EncryptedText
from .user import Role, User

__all__ = ["EncryptedText", "ModuleSettings", "Role", "SmtpAccount", "User"]
