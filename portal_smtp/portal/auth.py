"""Login and logout of portal users."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required, login_user, logout_user
from sqlalchemy import func, select

from ..extensions import db, limiter
from ..models import User
from .forms import LoginForm

bp = Blueprint("auth", __name__)

BAD_LOGIN = "Неверный логин или пароль."


def _safe_next(target: str | None) -> str:
    """Only same-site paths are followed after login (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("home.index")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("20/minute", methods=["POST"])
def login():
    """«Вход в портал»."""
    form = LoginForm()
    if form.validate_on_submit():
        user = db.session.scalar(
            select(User).where(func.lower(User.username) == form.username.data.strip().lower())
        )
        if user is not None and user.active and user.check_password(form.password.data):
            login_user(user, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")))
        form.password.errors.append(BAD_LOGIN)
    status = 422 if form.errors else 200
    return render_template("portal_smtp/auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Log out (POST only, so that a link cannot log a user out)."""
    logout_user()
    flash("Вы вышли из портала.", "info")
    return redirect(url_for("auth.login"))
