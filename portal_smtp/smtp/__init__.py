"""The SMTP engine: settings, network policy, connections and verification — each once."""
from .check import CODES, CheckResult, check
from .policy import BlockedTarget, NetworkPolicy
from .settings import AuthType, InvalidSettings, Security, SmtpSettings

__all__ = [
    "CODES",
    "AuthType",
    "BlockedTarget",
    "CheckResult",
    "InvalidSettings",
    "NetworkPolicy",
    "Security",
    "SmtpSettings",
    "check",
]
