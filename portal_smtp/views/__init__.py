"""The module's blueprints; URL rules live in each blueprint module."""
from __future__ import annotations

from datetime import UTC
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, current_app, request
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from wtforms import ValidationError

from ..config import development, display_zone
from ..extension import current_user_is_admin
from ..paths import resource_dir
from ..services.crm import letter
from ..smtp.settings import host_port


def health_alerts() -> list[str]:
    """The banner's lines for the logged-in user (SPEC §17); a page never fails over it."""
    from flask_login import current_user
    from sqlalchemy.exc import SQLAlchemyError

    from ..extension import user_key
    from ..services.health import alerts_for

    if not current_user.is_authenticated:
        return []
    try:
        return alerts_for(str(user_key(current_user)), current_user_is_admin())
    except SQLAlchemyError:
        return []


def register_blueprints(app: Flask, parts: frozenset[str]) -> None:
    """Register the blueprints of the ``parts`` the host asked for (the test mailbox only in
    development mode or a test run), with CSRF enforced on the module's own routes."""
    from ..crypto import is_unreadable
    from . import admin, crm, devmail, mail
    from .errors import register_converters
    from .metrics import register_metrics

    register_converters(app)  # before the rules that use ``<smtp_id:…>`` are added
    assets = Blueprint(
        "portal_smtp",
        __name__,
        template_folder=str(resource_dir("templates")),
        static_folder=str(resource_dir("static") / "portal_smtp"),
        static_url_path="/portal_smtp/static",
    )
    app.register_blueprint(assets)
    wanted = {"admin": admin.bp, "mail": mail.bp, "crm": crm.bp}
    if development(app):
        wanted["devmail"] = devmail.bp
    for part, blueprint in wanted.items():
        if part in parts:
            app.register_blueprint(blueprint)
    app.before_request(protect_from_csrf)
    register_metrics(app)
    if "crm" in parts:  # the composer a host includes, and its letters' status
        app.add_template_global(crm.render_composer, "portal_smtp_composer")
        app.add_template_global(letter, "portal_smtp_letter")
    app.add_template_global(generate_csrf, "portal_smtp_csrf_token")
    app.add_template_global(host_port, "portal_smtp_host_port")  # the one IPv6 bracket rule
    app.add_template_global(current_user_is_admin, "portal_smtp_is_admin")
    app.add_template_global(health_alerts, "portal_smtp_health_alerts")

    # Every name the module adds to the host's Jinja environment carries the ``portal_smtp_``
    # prefix, so a host's own ``local`` or ``plural`` filter is neither replaced nor shadowed.
    app.add_template_global(has_endpoint, "portal_smtp_has_endpoint")
    app.add_template_filter(plural, "portal_smtp_plural")
    app.add_template_filter(ago, "portal_smtp_ago")
    # ``{% if account.password is portal_smtp_unreadable %}``: a secret no configured key
    # decrypts.
    app.add_template_test(is_unreadable, "portal_smtp_unreadable")
    zone = ZoneInfo(display_zone(app))

    @app.template_filter("portal_smtp_local")
    def local_time(moment, seconds: bool = False) -> str:
        """A time (stored naive UTC, or aware) in the portal's zone: «24.11.2026 10:42»."""
        if moment is None:
            return ""
        aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        shown = aware.astimezone(zone)
        return shown.strftime("%d.%m.%Y %H:%M:%S" if seconds else "%d.%m.%Y %H:%M")


#: Methods that change something: each request needs the session's CSRF token.
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def protect_from_csrf() -> None:
    """Validate the CSRF token of a state-changing request to the module's routes — only
    those: Flask-WTF has no per-blueprint switch, and a host's own JSON routes must keep
    working (SPEC §16). Raises :class:`CSRFError` (400)."""
    if request.method not in UNSAFE_METHODS or not (request.blueprint or "").startswith(
            "portal_smtp"):
        return
    token = (request.form.get("csrf_token") or request.headers.get("X-CSRFToken")
             or request.headers.get("X-CSRF-Token"))
    try:
        validate_csrf(token)
    except ValidationError as error:
        raise CSRFError(error.args[0]) from None


def has_endpoint(name: str) -> bool:
    """Whether the application has the endpoint ``name`` (a part the host left out has none)."""
    return name in current_app.view_functions


def ago(moment) -> str:
    """«7 минут назад» for a naive UTC timestamp."""
    from ..timeutil import utcnow

    seconds = max(0, int((utcnow() - moment).total_seconds()))
    if seconds < 60:
        return "только что"
    for size, forms in ((86400, ("день", "дня", "дней")), (3600, ("час", "часа", "часов")),
                        (60, ("минуту", "минуты", "минут"))):
        if seconds >= size:
            count = seconds // size
            return f"{count} {plural(count, *forms)} назад"
    return "только что"

def plural(count: int, one: str, few: str, many: str) -> str:
    """The Russian plural form for ``count``: 1 аккаунт, 2 аккаунта, 5 аккаунтов."""
    count = abs(int(count))
    if count % 10 == 1 and count % 100 != 11:
        return one
    if 2 <= count % 10 <= 4 and not 12 <= count % 100 <= 14:
        return few
    return many
