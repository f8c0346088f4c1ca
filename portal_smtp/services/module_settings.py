"""Reading and changing «Настройки» of the module, and the network policy they extend."""
from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from ..config import split_list
from ..extensions import db
from ..models import ModuleSettings
from ..signals import module_settings_saved
from ..smtp import NetworkPolicy


def get_module_settings() -> ModuleSettings:
    """The settings row, or an unsaved one with the defaults when none was saved yet."""
    settings = db.session.scalar(select(ModuleSettings).order_by(ModuleSettings.id).limit(1))
    if settings is None:
        settings = ModuleSettings(
            enabled=True,
            send_test_letter=False,
            test_email="",
            log_retention_days=30,
            default_timeout=int(current_app.config["SMTP_DEFAULT_TIMEOUT"]),
            allow_hosts="",
            allow_ports="",
        )
    return settings


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
    module_settings_saved.send(settings)
    current_app.logger.info("SMTP module settings changed")
    return settings
