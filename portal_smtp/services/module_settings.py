"""Reading and changing «Настройки» of the module, and the network policy they extend."""
from __future__ import annotations

from flask import current_app, g, has_request_context
from sqlalchemy import select

from ..config import split_list
from ..extensions import db
from ..models import ModuleSettings
from ..smtp import NetworkPolicy


def get_module_settings() -> ModuleSettings:
    """The settings row, or an unsaved one with the defaults when none was saved yet.

    Read once per request (a check reads it several times); workers and CLI commands read
    it afresh each time, so a long-running worker sees changes without a restart.
    """
    if has_request_context() and "portal_smtp_module_settings" in g:
        return g.portal_smtp_module_settings
    settings = db.session.scalar(select(ModuleSettings).order_by(ModuleSettings.id).limit(1))
    if has_request_context():
        g.portal_smtp_module_settings = settings or _defaults()
        return g.portal_smtp_module_settings
    return settings or _defaults()


def _defaults() -> ModuleSettings:
    """Unsaved settings with the defaults (saving them creates the row)."""
    return ModuleSettings(
        enabled=True,
        send_test_letter=False,
        test_email="",
        log_retention_days=30,
        default_timeout=int(current_app.config["SMTP_DEFAULT_TIMEOUT"]),
        allow_hosts="",
        allow_ports="",
    )


def entries(text: str) -> list[str]:
    """Allow-list entries from text: one per line or comma-separated."""
    return split_list(text.replace("\n", ","))


def effective_policy(settings: ModuleSettings | None = None) -> NetworkPolicy:
    """The configuration's policy extended by the allow-lists of the module settings."""
    settings = settings or get_module_settings()
    base = current_app.extensions["portal_smtp"].policy
    if not settings.allow_hosts.strip() and not settings.allow_ports.strip():
        return base
    extra = NetworkPolicy.from_entries(
        allow=entries(settings.allow_hosts), extra_ports=entries(settings.allow_ports)
    )
    return NetworkPolicy(
        ports=base.ports | extra.ports,
        hosts=base.hosts | extra.hosts,
        networks=base.networks + extra.networks,
        host_ports=base.host_ports | extra.host_ports,
    )


def save_module_settings(settings: ModuleSettings, **values) -> ModuleSettings:
    """Apply ``values`` to the settings row (adding it when new) and flush."""
    for name, value in values.items():
        if not hasattr(ModuleSettings, name):
            raise AttributeError(name)
        setattr(settings, name, value)
    db.session.add(settings)
    db.session.flush()
    current_app.logger.info("SMTP module settings changed")
    return settings
