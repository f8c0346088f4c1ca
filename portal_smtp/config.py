"""Configuration: every default in one place, overridden by ``PORTAL_*`` environment variables.

``load_config`` fills ``app.config`` in this order: built-in defaults, the environment (Flask's
``from_prefixed_env("PORTAL")``), then the mapping a test passes to ``create_app``. Code reads
the module's own settings through :func:`setting`, which rejects names that have no default,
so a typo fails loudly instead of silently reading ``None``.
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from flask import Flask, current_app

ENVIRONMENTS = ("production", "development", "testing")

#: Defaults of the portal and of the extension (names without the ``PORTAL_`` prefix).
DEFAULTS: dict[str, Any] = {
    # "production" refuses to start without real keys; the README's run command says
    # "development", the test suite "testing".
    "ENV": "production",
    "SQLALCHEMY_DATABASE_URI": None,  # None: SQLite in the instance folder
    "SECRET_KEY": None,
    "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
    "WTF_I18N_ENABLED": False,  # forms use WTForms' own Russian messages (PortalForm)
    "SMTP_KEYS": None,  # comma-separated Fernet keys, newest first
    "SMTP_ALLOW_HOSTS": "",  # hosts, IPs, CIDRs and host:port entries exempt from the policy
    "SMTP_ALLOW_PORTS": "",  # ports allowed besides SMTP_DEFAULT_PORTS
    "SMTP_DEFAULT_PORTS": "25,465,587,2525",
    "SMTP_EHLO_HOSTNAME": None,  # None: the machine's FQDN, else an address literal
    "SMTP_DEFAULT_TIMEOUT": 10,
    "SMTP_MAX_CONCURRENT_CHECKS": 4,
    # Checks (SMTP and IMAP, every form that runs one) each user and each client IP may start;
    # Flask-Limiter syntax, e.g. "20/minute;200/hour". Counted in RATELIMIT_STORAGE_URI.
    "SMTP_CHECK_RATE_LIMIT": "20/minute;300/day",
    "SMTP_CHECK_RATE_LIMIT_IP": "60/minute",
    "SMTP_DEVMAIL_HOST": "127.0.0.1",
    "SMTP_DEVMAIL_PORT": 2525,
    "SMTP_DEVMAIL_DIR": None,  # None: <instance>/devmail
    # The From of the portal's own letters (sender confirmation codes); an admin SMTP
    # account with this address sends them.
    "SMTP_SYSTEM_FROM": None,
    # Times are stored in UTC and shown in this zone.
    "TIMEZONE": "Europe/Moscow",
    # Outbox workers (SPEC §11).
    "SMTP_WORKER_BATCH": 20,  # letters one worker claims at a time
    "SMTP_LEASE_SECONDS": 300,  # a claim older than this is recovered by another worker
    "SMTP_MAX_ATTEMPTS": 8,  # temporary failures retried this many times, then failed
    "SMTP_RETRY_BASE_SECONDS": 30,  # first retry delay; doubles each time, ±20% jitter
    "SMTP_RETRY_MAX_SECONDS": 3600,
    "SMTP_WORKER_IDLE_SECONDS": 2.0,  # how long an idle worker waits before looking again
    "RATELIMIT_STORAGE_URI": "memory://",
    "RATELIMIT_HEADERS_ENABLED": True,
}

#: Settings the development configuration adds so a newcomer can try everything offline.
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


class ConfigurationError(RuntimeError):
    """The configuration is unsafe or incomplete for the chosen environment."""


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
        for name, value in DEVELOPMENT_DEFAULTS.items():
            if not app.config.get(name):
                app.config[name] = value
    app.testing = env == "testing" or bool(app.config.get("TESTING"))

    instance = Path(app.instance_path)
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        instance.mkdir(parents=True, exist_ok=True)
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{instance / 'portal.db'}"
    if not app.config["SMTP_DEVMAIL_DIR"]:
        app.config["SMTP_DEVMAIL_DIR"] = str(instance / "devmail")
    if not app.config["SECRET_KEY"]:
        if env == "production":
            raise ConfigurationError("PORTAL_SECRET_KEY must be set in production")
        app.config["SECRET_KEY"] = _instance_secret(instance, "secret-key", secrets.token_hex(32))


def _instance_secret(instance: Path, name: str, fresh: str) -> str:
    """Read a development secret from the instance folder, creating it (mode 0600) once."""
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / name
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(fresh)
    return fresh


def instance_secret(app: Flask, name: str, fresh: str) -> str:
    """Public wrapper of the once-generated development secret (see :mod:`.crypto`)."""
    return _instance_secret(Path(app.instance_path), name, fresh)


def split_list(value: Any) -> list[str]:
    """Turn a comma-separated string (or a JSON list, or a number) into clean items."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        items: Iterable[Any] = value.split(",")
    elif isinstance(value, Iterable):
        items = value
    else:
        items = [value]
    return [str(item).strip() for item in items if str(item).strip()]


def setting(name: str, app: Flask | None = None) -> Any:
    """Read one known setting of the current app; unknown names raise ``KeyError``."""
    if name not in DEFAULTS:
        raise KeyError(f"unknown portal setting {name!r}")
    return (app or current_app).config[name]


def rate_limits_in_memory(app: Flask | None = None) -> bool:
    """True in production when Flask-Limiter keeps its counts in process memory (its
    default): each worker then counts alone, so the limits of SPEC §10 do not hold."""
    config = (app or current_app).config
    storage = str(config.get("RATELIMIT_STORAGE_URI") or "memory://")
    return config.get("ENV") == "production" and storage.startswith("memory://")
