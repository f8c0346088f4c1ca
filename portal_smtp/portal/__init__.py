"""The demo host: a small portal that mounts the SMTP module through its public contract.

It owns what a real portal owns — configuration, its database instance, users and login, its
layout and error pages, CSRF for its own forms, a rate limiter — and hands the module what
SPEC §16 says a host hands it. ``wsgi.py`` serves :func:`create_app`.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, flash, redirect, render_template, request, url_for
from flask_htmx import HTMX, make_response
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InternalError, OperationalError
from werkzeug.exceptions import HTTPException

from ..extension import PortalSmtp
from ..paths import resource_dir
from .auth import LOGIN_RATE_LIMIT
from .auth import bp as auth_bp
from .cli import portal_cli
from .config import load_config
from .crm import bp as crm_bp
from .crm import entity_for_composer
from .extensions import csrf, db, login_manager, migrate, new_limiter, tune_engine
from .home import bp as home_bp
from .models import User
from .users import bp as users_bp

htmx = HTMX()

ERROR_TEXTS = {
    400: ("Некорректный запрос", "Запрос не удалось обработать. Обновите страницу и повторите."),
    403: ("Доступ запрещён", "У вас нет прав для просмотра этой страницы."),
    404: ("Страница не найдена", "Такой страницы нет или она была удалена."),
    405: ("Метод не поддерживается", "Это действие нельзя выполнить таким запросом."),
    429: ("Слишком много запросов",
          "Вы выполняете это действие слишком часто. Подождите минуту и повторите."),
    503: ("База данных недоступна", "Повторите попытку позже."),
    500: ("Внутренняя ошибка", "Что-то пошло не так. Мы уже записали ошибку в журнал."),
}
#: The largest id an INTEGER column holds; a bigger one is no user (and no database error).
MAX_USER_ID = 2**31 - 1
#: Sent with every response of the portal: no page may be framed (clickjacking), types are
#: not sniffed, and other sites see no portal paths (ids, filters) in the Referer.
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
STORAGE_TEXT = ("База данных сейчас не принимает изменения (нет места на диске или она "
                "доступна только для чтения). Ничего не сохранено — повторите позже.")
CSRF_TEXT = "Сессия устарела или форма отправлена не с портала. Обновите страницу и повторите."


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the demo portal: configuration, database, login, CSRF, its pages and the module."""
    overrides = dict(test_config or {})
    instance_path = overrides.pop("INSTANCE_PATH", None) or os.environ.get("PORTAL_INSTANCE_PATH")
    app = Flask(
        "portal_smtp.portal",
        instance_path=instance_path,
        instance_relative_config=True,
        template_folder=str(resource_dir("templates")),
        static_folder=None,  # the module serves the assets the layout uses
    )
    load_config(app, overrides)
    init_portal(app)
    parts = ["admin", "mail", "crm"] + (["devmail"] if app.config["ENV"] != "production" else [])
    PortalSmtp(app, db=db, user_model=User, is_admin=lambda user: user.is_admin,
               base_template="portal/base.html", content_block="content", parts=parts,
               crm_entity=entity_for_composer)
    return app


def init_portal(app: Flask) -> None:
    """Bind the host's own extensions and register the portal's own pages."""
    db.init_app(app)
    migrate.init_app(app, db)
    tune_engine(app)
    csrf.init_app(app)
    limiter = new_limiter()
    limiter.init_app(app)
    # Flask-Limiter's decorators hold the limiter weakly: the app keeps it alive, also when
    # RATELIMIT_ENABLED is off and the limiter does not register itself.
    app.extensions["portal_limiter"] = limiter
    htmx.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Войдите, чтобы продолжить."
    login_manager.login_message_category = "info"
    app.register_blueprint(auth_bp)
    app.view_functions["auth.login"] = limiter.limit(LOGIN_RATE_LIMIT, methods=["POST"])(
        app.view_functions["auth.login"])
    app.register_blueprint(home_bp)
    app.register_blueprint(crm_bp)
    app.register_blueprint(users_bp)
    app.cli.add_command(portal_cli)
    _register_error_pages(app)
    app.after_request(_security_headers)


def _security_headers(response: Response) -> Response:
    """Add :data:`SECURITY_HEADERS` to a response (a header a view set itself is kept)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """Flask-Login: the user of a session (``"<id>:<epoch>"``, see ``User.get_id``), if
    still active and the session is not older than the user's last logout."""
    key, _, epoch = user_id.partition(":")
    if not (key.isdigit() and epoch.isdigit()) or int(key) > MAX_USER_ID:
        return None
    user = db.session.get(User, int(key))
    if user is None or not user.active or int(epoch) != (user.session_epoch or 0):
        return None
    return user


@login_manager.unauthorized_handler
def unauthorized():
    """Send anonymous visitors to the login page; HTMX requests get a client redirect."""
    target = url_for("auth.login", next=request.full_path if request.method == "GET" else None)
    flash(login_manager.login_message, "info")
    if htmx:
        return make_response("", 401, redirect=target)
    return redirect(target)


def _register_error_pages(app: Flask) -> None:
    def render_error(status: int, text: str | None = None):
        title, default_text = ERROR_TEXTS.get(status, ERROR_TEXTS[500])
        template = "portal_smtp/errors/_error.html" if htmx else "portal/error.html"
        body = render_template(template, status=status, title=title, text=text or default_text)
        return body, status

    @app.errorhandler(OperationalError)
    @app.errorhandler(InternalError)
    def storage_error(error):
        # A full disk, a read-only or unreachable database: a clear page, not a 500.
        db.session.rollback()
        app.logger.warning("Database unavailable on %s %s: %s", request.method, request.path,
                           getattr(error, "orig", error))
        body, status = render_error(503, STORAGE_TEXT)
        return body, status, {"Retry-After": "60"}

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        return render_error(400, CSRF_TEXT)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code is None or error.code < 400 or error.code not in ERROR_TEXTS:
            return error
        return render_error(error.code)

    @app.errorhandler(500)
    def server_error(error):
        app.logger.error("Unhandled error on %s %s", request.method, request.path)
        return render_error(500)

    @app.context_processor
    def portal_context():
        return {"current_user": current_user}
