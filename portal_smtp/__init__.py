"""portal_smtp: outgoing mail of a Flask portal through external SMTP servers.

:class:`PortalSmtp` is the extension (``PortalSmtp(app)`` or ``init_app(app)``);
:func:`create_app` builds the demo portal around it, which is what ``wsgi.py`` serves.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from flask import Flask

from .config import load_config, setting, split_list
from .crypto import SecretBox, box_for_app
from .smtp import NetworkPolicy

__all__ = ["PortalSmtp", "create_app", "send_mail"]
__version__ = "0.1.0"

PACKAGE_DIR = Path(__file__).resolve().parent
MIGRATIONS_DIR = str(PACKAGE_DIR / "migrations")


def resource_dir(name: str) -> Path:
    """Where ``templates``/``static`` live: beside the package in a checkout, inside it in a
    built wheel (setup.cfg maps the top-level folders into the package)."""
    for candidate in (PACKAGE_DIR.parent / name, PACKAGE_DIR / name):
        if candidate.is_dir():
            return candidate
    raise RuntimeError(f"portal_smtp: the {name!r} folder is missing from the installation")


@dataclass
class ExtensionState:
    """What the extension keeps per application in ``app.extensions["portal_smtp"]``."""

    secrets: SecretBox
    policy: NetworkPolicy
    check_slots: threading.BoundedSemaphore


def build_policy(app: Flask) -> NetworkPolicy:
    """The network policy configured for ``app`` (SPEC §10)."""
    return NetworkPolicy.from_entries(
        allow=split_list(setting("SMTP_ALLOW_HOSTS", app)),
        ports=split_list(setting("SMTP_DEFAULT_PORTS", app)),
        extra_ports=split_list(setting("SMTP_ALLOW_PORTS", app)),
    )


class PortalSmtp:
    """The Flask extension: models, blueprints, the ``smtp`` CLI group and templates."""

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Register everything the module needs on ``app``."""
        from . import models  # noqa: F401  (registers the tables)
        from .cli import smtp_cli
        from .extensions import bind_shared_extensions
        from .services import crm_senders, mailboxes  # noqa: F401  (register their transports)
        from .views import register_blueprints

        bind_shared_extensions(app, MIGRATIONS_DIR)
        app.extensions["portal_smtp"] = ExtensionState(
            secrets=box_for_app(app),
            policy=build_policy(app),
            check_slots=threading.BoundedSemaphore(int(setting("SMTP_MAX_CONCURRENT_CHECKS", app))),
        )
        register_blueprints(app)
        app.cli.add_command(smtp_cli)

    @staticmethod
    def state(app: Flask) -> ExtensionState:
        """The extension's state for ``app``."""
        return app.extensions["portal_smtp"]


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the portal: configuration, database, login, CSRF, HTMX and the SMTP module."""
    from .portal import init_portal

    overrides = dict(test_config or {})
    instance_path = overrides.pop("INSTANCE_PATH", None) or os.environ.get("PORTAL_INSTANCE_PATH")
    app = Flask(
        __name__,
        instance_path=instance_path,
        instance_relative_config=True,
        template_folder=str(resource_dir("templates")),
        static_folder=None,  # assets are served by the module blueprint
    )
    load_config(app, overrides)
    init_portal(app)
    PortalSmtp(app)
    return app


def send_mail(message: EmailMessage, *, mailing: bool = False, sender: Any = None,
              commit: bool = True, **kwargs: Any) -> int:
    """Queue ``message`` in the outbox and return its id (SPEC §11, §14).

    :param mailing: the letter belongs to a mass mailing.
    :param sender: a mailbox or CRM sender with its own SMTP server, if any.
    :param commit: commit the session; ``False`` keeps the caller's transaction open.
    Raises :class:`~portal_smtp.services.outbox.SendRefused` with a Russian message.
    """
    from .services.outbox import send_mail as queue  # imported late: it needs the models

    return queue(message, mailing=mailing, sender=sender, commit=commit, **kwargs)
