"""Helpers every view of the module uses: access checks and page-or-fragment rendering."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort, render_template
from flask_login import current_user, login_required

from ..extension import current_user_is_admin
from ..extensions import htmx


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Administrators only: anonymous users log in, others get 403."""

    @wraps(view)
    @login_required
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user_is_admin():
            abort(403)
        return view(*args, **kwargs)

    return wrapper


def user_rate_key() -> str:
    """Flask-Limiter key: the logged-in user's stable id — not the session id, which a new
    login changes (checks are limited per user and per IP)."""
    return f"user:{getattr(current_user, 'id', None)}"


def wants_fragment() -> bool:
    """True for an HTMX request that swaps a part of the page (not a boosted link and not
    the restore of a page from history, which both need the whole page)."""
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render_page(page: str, fragment: str, **context: Any) -> str:
    """Render the full ``page`` — or, for a partial HTMX request, only ``fragment``
    (with ``partial=True``, so it can update other parts of the page out of band).

    The page template includes the fragment template, so the two never drift apart.
    """
    if wants_fragment():
        return render_template(fragment, partial=True, **context)
    return render_template(page, partial=False, **context)

