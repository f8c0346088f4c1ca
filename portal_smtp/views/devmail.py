"""«Тестовый почтовый ящик»: what the development mail catcher received (not in production)."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, url_for
from flask_login import login_required

from ..config import setting
from ..devmail import clear_letters, read_letters
from .helpers import render_page

bp = Blueprint("devmail", __name__, url_prefix="/dev/mailbox")


@bp.route("/")
@login_required
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
@login_required
def clear():
    """«Очистить» the test mailbox."""
    count = clear_letters(setting("SMTP_DEVMAIL_DIR"))
    flash(f"Удалено писем: {count}.", "success")
    return redirect(url_for(".index"))
