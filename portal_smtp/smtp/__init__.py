"""The SMTP engine: settings, network policy, connections and verification — each once."""
from .check import CheckResult, check
from .policy import BlockedTarget, NetworkPolicy
from .settings import AuthType, InvalidSettings, Security, SmtpSettings

__all__ = [
    "AuthType",
    "BlockedTarget",
    "CheckResult",
    "InvalidSettings",
    "NetworkPolicy",
    "Security",
    "SmtpSettings",
    "check",
]
