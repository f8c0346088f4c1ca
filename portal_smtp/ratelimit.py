"""Rate limits of the module's own actions, kept in the host's limiter when it has one.

A host that already runs Flask-Limiter keeps it: the module counts in that limiter's storage
(Redis in production, shared by every worker) and never replaces or re-configures it. A host
without one gets a limiter of the module's own on ``SMTP_RATELIMIT_STORAGE_URI``. Limits are
moving windows: a fixed window lets twice the allowance through around a minute's turn.
"""
from __future__ import annotations

from flask import Flask, current_app
from limits import parse_many
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from .config import development


def attach_storage(app: Flask) -> None:
    """The module's own storage, used while the host runs no Flask-Limiter (nothing is
    registered on the host's requests)."""
    app.extensions["portal_smtp"].own_storage = storage_from_string(
        app.config["SMTP_RATELIMIT_STORAGE_URI"])


def host_limiter(app: Flask | None = None):
    """The host's Flask-Limiter, looked up when needed — so the order in which the host
    sets it up and mounts the module does not matter — or None."""
    limiters = (app or current_app).extensions.get("limiter") or set()
    return next(iter(limiters), None)


def _storage() -> Storage | None:
    limiter = host_limiter()
    if limiter is None:
        return current_app.extensions["portal_smtp"].own_storage
    if not limiter.enabled:
        return None  # the host switched rate limiting off
    return limiter.limiter.storage


def hit(limits_text: str, scope: str, key: str) -> bool:
    """Count one event for ``key`` against each limit of ``limits_text``; False when any
    limit is exceeded (every limit is counted anyway, so a refused user still spends the
    IP's allowance)."""
    storage = _storage()
    if storage is None:
        return True
    window = MovingWindowRateLimiter(storage)
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX") or ""
    admitted = True
    for item in parse_many(limits_text or ""):
        admitted = window.hit(item, *filter(None, (prefix, scope, key))) and admitted
    return admitted


def in_memory(app: Flask | None = None) -> bool:
    """True outside development when the module's limits are counted in process memory:
    each worker then counts alone, so the limits of SPEC §10 do not hold."""
    app = app or current_app
    if development(app):
        return False
    with app.app_context():
        return isinstance(_storage(), MemoryStorage)
