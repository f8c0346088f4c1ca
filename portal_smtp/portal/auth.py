"""Login and logout of portal users."""
from __future__ import annotations

import secrets
from functools import cache
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db
from .forms import LoginForm
from .models import User

bp = Blueprint("auth", __name__)

BAD_LOGIN = "Неверный логин или пароль."


def _safe_next(target: str | None) -> str:
    """Only same-site paths are followed after login (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("home.index")


@cache
def dummy_password_hash() -> str:
    """A hash of a random password, made once per process with the same method as real
    ones, so an unknown login name costs the same work as a wrong password."""
    return generate_password_hash(secrets.token_urlsafe(16))


def authenticate(username: str, password: str) -> User | None:
    """The active user with this login name and password, or ``None``.

    Every attempt checks exactly one password hash — the user's, or a dummy one for an
    unknown name — so the answer's timing does not reveal which users exist.
    """
    user = db.session.scalar(
        select(User).where(func.lower(User.username) == username.strip().lower())
    )
    if user is None:
        check_password_hash(dummy_password_hash(), password)
        return None
    if not user.check_password(password) or not user.active:
        return None
    return user


#: Login attempts per client address (the limit is applied by ``create_app``, which gives
#: every app a limiter of its own).
LOGIN_RATE_LIMIT = "20/minute"


@bp.route("/login", methods=["GET", "POST"])
def login():
    """«Вход в портал»."""
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(form.username.data, form.password.data)
        if user is not None:
            login_user(user, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")))
        form.password.errors.append(BAD_LOGIN)
    status = 422 if form.errors else 200
    return render_template("portal/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Log out (POST only, so that a link cannot log a user out).

    The user's session epoch moves on, so a copy of the session or «remember me» cookie
    taken before the logout no longer logs anyone in.
    """
    user = current_user._get_current_object()
    user.session_epoch = (user.session_epoch or 0) + 1
    try:
        db.session.commit()
    except SQLAlchemyError:
        # A read-only or full database: this browser is still logged out below, but old
        # copies of its cookies stay valid until the next logout that can be saved.
        db.session.rollback()
        current_app.logger.error("Logout of user %s could not end its other sessions", user.id)
    logout_user()
    flash("Вы вышли из портала.", "info")
    return redirect(url_for("auth.login"))
