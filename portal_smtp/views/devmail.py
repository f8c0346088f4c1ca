"""«Тестовый почтовый ящик»: what the development mail catcher received (not in production).

Administrators only: the catcher keeps every user's letters, sender confirmation codes
included, so an ordinary user must not read them (issue #10).
"""
from __future__ import annotations

from flask import Blueprint, flash, redirect, url_for

from ..config import setting
from ..devmail import clear_letters, read_letters
from .errors import handle_module_errors
from .helpers import admin_required, render_page

bp = Blueprint("portal_smtp_devmail", __name__, url_prefix="/dev/mailbox")
handle_module_errors(bp)  # storage failures: a Russian 503, not a 500


@bp.route("/")
@admin_required
def index():
    """The letters the catcher kept and how to connect to it."""
    letters = read_letters(setting("SMTP_DEVMAIL_DIR"))
    return render_page(
        "portal_smtp/devmail/page.html",
        "portal_smtp/devmail/_letters.html",
        letters=letters,
        host=setting("SMTP_DEVMAIL_HOST"),
        port=setting("SMTP_DEVMAIL_PORT"),
    )


@bp.route("/clear", methods=["POST"])
@admin_required
def clear():
    """«Очистить» the test mailbox."""
    count = clear_letters(setting("SMTP_DEVMAIL_DIR"))
    flash(f"Удалено писем: {count}.", "success")
    return redirect(url_for(".index"))
