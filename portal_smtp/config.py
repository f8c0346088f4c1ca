"""The module's configuration: its own ``SMTP_*`` keys, every default in one place.

``init_app`` sets a default for each key the host did not set; code reads them through
:func:`setting`, which rejects names that have no default, so a typo fails loudly instead of
silently reading ``None``. The host's own keys are read only where the module must follow
the host (its time zone, whether it runs tests).
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from flask import Flask, current_app

#: The module's settings and their defaults, set with ``app.config.setdefault`` by
#: ``init_app`` (names as in ``app.config``; a host reading its environment with
#: ``from_prefixed_env("PORTAL")`` fills them from ``PORTAL_SMTP_*``). Host-wide keys —
#: ``SECRET_KEY``, ``ENV``, ``TIMEZONE``, ``RATELIMIT_*``, ``WTF_*`` — are the host's.
DEFAULTS: dict[str, Any] = {
    # Development mode: keys generated once into the instance folder. Off unless the host
    # turns it on (the demo host does for PORTAL_ENV=development).
    "SMTP_DEVELOPMENT": False,
    "SMTP_KEYS": None,  # comma-separated Fernet keys, newest first
    "SMTP_ALLOW_HOSTS": "",  # hosts, IPs, CIDRs and host:port entries exempt from the policy
    "SMTP_ALLOW_PORTS": "",  # ports allowed besides SMTP_DEFAULT_PORTS
    "SMTP_DEFAULT_PORTS": "25,465,587,2525",
    "SMTP_EHLO_HOSTNAME": None,  # None: the machine's FQDN, else an address literal
    "SMTP_DEFAULT_TIMEOUT": 10,
    "SMTP_MAX_CONCURRENT_CHECKS": 4,
    # Checks (SMTP and IMAP, every form that runs one) each user and each client IP may start;
    # Flask-Limiter syntax, e.g. "20/minute;200/hour". Counted in the host's limiter storage.
    "SMTP_CHECK_RATE_LIMIT": "20/minute;300/day",
    "SMTP_CHECK_RATE_LIMIT_IP": "60/minute",
    # Where the module counts when the host runs no Flask-Limiter (Redis in production).
    "SMTP_RATELIMIT_STORAGE_URI": "memory://",
    "SMTP_DEVMAIL_HOST": "127.0.0.1",
    "SMTP_DEVMAIL_PORT": 2525,
    "SMTP_DEVMAIL_DIR": None,  # None: <instance>/devmail
    # The From of the portal's own letters (sender confirmation codes); an admin SMTP
    # account with this address sends them.
    "SMTP_SYSTEM_FROM": None,
    # Times are stored in UTC and shown in this zone (None: the host's TIMEZONE, else Moscow).
    "SMTP_TIMEZONE": None,
    # Outbox workers (SPEC §11).
    "SMTP_WORKER_BATCH": 20,  # letters one worker claims at a time
    "SMTP_LEASE_SECONDS": 300,  # a claim older than this is recovered by another worker
    "SMTP_MAX_ATTEMPTS": 8,  # temporary failures retried this many times, then failed
    "SMTP_RETRY_BASE_SECONDS": 30,  # first retry delay; doubles each time, ±20% jitter
    "SMTP_RETRY_MAX_SECONDS": 3600,
    "SMTP_WORKER_IDLE_SECONDS": 2.0,  # how long an idle worker waits before looking again
    # A server's "limit hit" reply pauses a sender with no limits configured this long
    # (with limits: for its shortest window). SPEC §17.
    "SMTP_LIMIT_PAUSE_SECONDS": 900,
    # Health (SPEC §17): the worker re-checks every sender this often (0: never) and, after
    # this many failures in a row, tells its owner once — administrators (these addresses,
    # comma-separated) for an admin account — through SMTP_SYSTEM_FROM.
    "SMTP_HEALTH_INTERVAL_SECONDS": 3600,
    "SMTP_HEALTH_FAILURES_TO_NOTIFY": 3,
    "SMTP_ADMIN_EMAILS": "",
    # Prometheus' /metrics (SPEC §17): off unless the host turns it on; with a token set,
    # scrapes must send "Authorization: Bearer <token>".
    "SMTP_METRICS_ENABLED": False,
    "SMTP_METRICS_PATH": "/metrics",
    "SMTP_METRICS_TOKEN": None,
}
DEFAULT_TIMEZONE = "Europe/Moscow"


class ConfigurationError(RuntimeError):
    """The configuration is unsafe or incomplete."""


def apply_defaults(app: Flask) -> None:
    """Give every module setting the host did not set its default (never overriding)."""
    for name, value in DEFAULTS.items():
        app.config.setdefault(name, value)
    if not app.config["SMTP_DEVMAIL_DIR"]:
        app.config["SMTP_DEVMAIL_DIR"] = str(Path(app.instance_path) / "devmail")


def development(app: Flask | None = None) -> bool:
    """The module's development mode (or a test run of the host): generated keys."""
    app = app or current_app
    return bool(app.config.get("SMTP_DEVELOPMENT")) or app.testing


def display_zone(app: Flask | None = None) -> str:
    """The time zone pages and the CLI show times in."""
    config = (app or current_app).config
    return config.get("SMTP_TIMEZONE") or config.get("TIMEZONE") or DEFAULT_TIMEZONE


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
