"""One rule from an SMTP server a model stores to :class:`~portal_smtp.smtp.SmtpSettings`.

SMTP accounts, CRM senders and mailboxes' sending settings each keep a server in columns of
their own names (``host`` here, ``smtp_host`` there — the schema stays as it is), and some
keep more than others (only accounts store the auth type, a timeout and TLS verification).
:func:`settings_for` reads any of them through :meth:`SmtpServerMixin.smtp_values`, so what a
missing value means is decided once.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

from ..smtp import SmtpSettings

#: The fields every stored server has; ``auth``, ``timeout`` and ``verify_tls`` are optional.
SERVER_FIELDS = ("host", "port", "security", "login", "password")


class StoresSmtpServer(Protocol):
    """Anything :func:`settings_for` reads: a model with :class:`SmtpServerMixin`, or values
    about to be saved."""

    def smtp_values(self) -> Mapping[str, Any]:
        """The server by :class:`SmtpSettings` field name."""


class SmtpServerMixin:
    """A model that stores one SMTP server; :func:`settings_for` turns it into settings."""

    #: :class:`SmtpSettings` field → the model's attribute holding it: the
    #: :data:`SERVER_FIELDS`, plus ``auth``, ``timeout`` or ``verify_tls`` if it stores them.
    smtp_columns: ClassVar[Mapping[str, str]] = {name: name for name in SERVER_FIELDS}

    def smtp_values(self) -> dict[str, Any]:
        """The stored server by :class:`SmtpSettings` field name."""
        return {field: getattr(self, column) for field, column in self.smtp_columns.items()}


def settings_for(obj: StoresSmtpServer, default_timeout: float = 10) -> SmtpSettings:
    """The SMTP settings ``obj`` stores, as the engine takes them.

    :param obj: an SMTP account, a CRM sender, a mailbox's sending settings, or input values
        with ``smtp_values()``.
    :param default_timeout: seconds per network step when ``obj`` stores no timeout (the
        module's setting).

    Without a stored auth type, a login means login auth and a blank one none; TLS
    certificates are verified unless ``obj`` stores otherwise. Raises
    :class:`~portal_smtp.smtp.InvalidSettings` for settings that cannot be used (a secret no
    key decrypts among them).
    """
    values = obj.smtp_values()
    login = values["login"] or ""
    return SmtpSettings(
        host=values["host"],
        port=values["port"],
        security=values["security"],
        auth=values.get("auth") or ("login" if login else "none"),
        login=login,
        password=values["password"] or "",
        timeout=values.get("timeout") or default_timeout,
        verify_tls=values.get("verify_tls", True),
    )
