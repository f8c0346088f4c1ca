"""The module's blueprints; URL rules live in each blueprint module."""
from __future__ import annotations

from datetime import UTC
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask

from .. import resource_dir


def register_blueprints(app: Flask) -> None:
    """Register the module's blueprints (the test mailbox only outside production)."""
    from ..crypto import is_unreadable
    from . import admin, crm, devmail, mail
    from .errors import register_converters

    register_converters(app)  # before the rules that use ``<smtp_id:…>`` are added
    assets = Blueprint(
        "portal_smtp",
        __name__,
        template_folder=str(resource_dir("templates")),
        static_folder=str(resource_dir("static") / "portal_smtp"),
        static_url_path="/portal_smtp/static",
    )
    app.register_blueprint(assets)
    app.register_blueprint(admin.bp)
    app.register_blueprint(mail.bp)
    app.register_blueprint(crm.bp)
    if app.config["ENV"] != "production":
        app.register_blueprint(devmail.bp)

    @app.context_processor
    def navigation():
        return {"has_endpoint": lambda name: name in app.view_functions}

    app.add_template_filter(plural)
    app.add_template_filter(ago)
    # ``{% if account.password is smtp_unreadable %}``: a secret no configured key decrypts.
    app.add_template_test(is_unreadable, "smtp_unreadable")
    zone = ZoneInfo(app.config["TIMEZONE"])

    @app.template_filter("local")
    def local_time(moment, seconds: bool = False) -> str:
        """A time (stored naive UTC, or aware) in the portal's zone: «24.11.2026 10:42»."""
        if moment is None:
            return ""
        aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        shown = aware.astimezone(zone)
        return shown.strftime("%d.%m.%Y %H:%M:%S" if seconds else "%d.%m.%Y %H:%M")


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
