"""The minimal host portal the SMTP module plugs into: users, login, layout and error pages."""
from __future__ import annotations

from flask import Flask, Response, flash, redirect, render_template, request, url_for
from flask_htmx import make_response
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from .. import MIGRATIONS_DIR
from ..config import rate_limits_in_memory
from ..extensions import bind_shared_extensions, db, htmx, login_manager
from ..models import User
from .auth import bp as auth_bp
from .home import bp as home_bp

ERROR_TEXTS = {
    400: ("Некорректный запрос", "Запрос не удалось обработать. Обновите страницу и повторите."),
    403: ("Доступ запрещён", "У вас нет прав для просмотра этой страницы."),
    404: ("Страница не найдена", "Такой страницы нет или она была удалена."),
    405: ("Метод не поддерживается", "Это действие нельзя выполнить таким запросом."),
    429: ("Слишком много запросов",
          "Вы выполняете это действие слишком часто. Подождите минуту и повторите."),
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
CSRF_TEXT = "Сессия устарела или форма отправлена не с портала. Обновите страницу и повторите."


def init_portal(app: Flask) -> None:
    """Bind the shared extensions and register the portal's own pages."""
    bind_shared_extensions(app, MIGRATIONS_DIR)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Войдите, чтобы продолжить."
    login_manager.login_message_category = "info"
    app.register_blueprint(auth_bp)
    app.register_blueprint(home_bp)
    _register_error_pages(app)
    app.after_request(_security_headers)
    _warn_memory_rate_limits(app)


def _security_headers(response: Response) -> Response:
    """Add :data:`SECURITY_HEADERS` to a response (a header a view set itself is kept)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _warn_memory_rate_limits(app: Flask) -> None:
    """Production with rate limits in process memory: each worker counts alone and a
    restart forgets everything, so say it loudly at start."""
    if rate_limits_in_memory(app):
        app.logger.warning(
            "Rate limits are kept in process memory (RATELIMIT_STORAGE_URI=memory://) in "
            "production: every worker counts separately. Set PORTAL_RATELIMIT_STORAGE_URI "
            "to a Redis URL, e.g. redis://localhost:6379/0."
        )


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
        template = "portal_smtp/errors/_error.html" if htmx else "portal_smtp/errors/page.html"
        body = render_template(template, status=status, title=title, text=text or default_text)
        return body, status

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
