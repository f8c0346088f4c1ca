"""The module's blueprints; URL rules live in each blueprint module."""
from __future__ import annotations

from flask import Blueprint, Flask

from .. import resource_dir


def register_blueprints(app: Flask) -> None:
    """Register the module's blueprints (the test mailbox only outside production)."""
    from . import devmail

    assets = Blueprint(
        "portal_smtp",
        __name__,
        template_folder=str(resource_dir("templates")),
        static_folder=str(resource_dir("static") / "portal_smtp"),
        static_url_path="/portal_smtp/static",
    )
    app.register_blueprint(assets)
    if app.config["ENV"] != "production":
        app.register_blueprint(devmail.bp)

    @app.context_processor
    def navigation():
        return {"has_endpoint": lambda name: name in app.view_functions}
