"""The demo host's configuration: its own keys, then the ``PORTAL_*`` environment.

``load_config`` fills ``app.config`` in this order: the host's defaults, the environment
(Flask's ``from_prefixed_env("PORTAL")``, which also fills the SMTP module's ``SMTP_*`` keys
from ``PORTAL_SMTP_*``), then the mapping a test passes to ``create_app``. The module sets
defaults for its own keys itself when it is initialised.
"""
from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from ..config import ConfigurationError, instance_secret

ENVIRONMENTS = ("production", "development", "testing")

#: The demo host's own settings (names without the ``PORTAL_`` prefix).
DEFAULTS: dict[str, Any] = {
    # "production" refuses to start without real keys; the README's run command says
    # "development", the test suite "testing".
    "ENV": "production",
    "SQLALCHEMY_DATABASE_URI": None,  # None: SQLite in the instance folder
    "SECRET_KEY": None,
    "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
    "WTF_I18N_ENABLED": False,  # forms use WTForms' own Russian messages (PortalForm)
    # Times are stored in UTC and shown in this zone (the module follows it).
    "TIMEZONE": "Europe/Moscow",
    "RATELIMIT_STORAGE_URI": "memory://",
    "RATELIMIT_HEADERS_ENABLED": True,
}

#: Settings development adds so a newcomer can try everything offline.
DEVELOPMENT_DEFAULTS = {
    "SMTP_ALLOW_HOSTS": "127.0.0.1,::1",
    "SMTP_SYSTEM_FROM": "Корпоративный портал <noreply@example.com>",
}

#: The portal's cookie policy. Flask's own defaults (SameSite unset, Secure off) are already
#: in ``app.config`` when ``load_config`` runs, so these replace them rather than
#: ``setdefault``; ``PORTAL_*`` variables still override. ``None`` for Secure means "on in
#: production" (HTTPS), off elsewhere so development and tests work over plain HTTP.
COOKIE_DEFAULTS: dict[str, Any] = {
    "SESSION_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SECURE": None,
    "REMEMBER_COOKIE_SECURE": None,
}


def load_config(app: Flask, overrides: Mapping[str, Any] | None = None) -> None:
    """Fill ``app.config`` from defaults, ``PORTAL_*`` variables and ``overrides``."""
    for name, value in DEFAULTS.items():
        app.config.setdefault(name, value)
    app.config.update(COOKIE_DEFAULTS)
    app.config.from_prefixed_env("PORTAL")
    if overrides:
        app.config.update(overrides)
    env = app.config["ENV"]
    if env not in ENVIRONMENTS:
        raise ConfigurationError(f"PORTAL_ENV must be one of {', '.join(ENVIRONMENTS)}")
    for name in ("SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE"):
        if app.config[name] is None:
            app.config[name] = env == "production"
    if env == "development":
        app.config.setdefault("SMTP_DEVELOPMENT", True)
        for name, value in DEVELOPMENT_DEFAULTS.items():
            if not app.config.get(name):
                app.config[name] = value
    app.testing = env == "testing" or bool(app.config.get("TESTING"))

    instance = Path(app.instance_path)
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        instance.mkdir(parents=True, exist_ok=True)
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{instance / 'portal.db'}"
    if not app.config["SECRET_KEY"]:
        if env == "production":
            raise ConfigurationError("PORTAL_SECRET_KEY must be set in production")
        app.config["SECRET_KEY"] = instance_secret(app, "secret-key", secrets.token_hex(32))
