"""The module's own answers to hostile input and storage failures, host-independent.

* ``<smtp_id:name>`` URL parts accept only ids the database can hold (1..2^31-1): anything
  else is a 404 at routing, before a query could overflow an ``INTEGER`` (PostgreSQL) or a
  64-bit integer (SQLite).
* A database that cannot take a write (full disk, read-only, gone) answers the module's
  routes with a Russian 503 page — or its fragment for HTMX — after rolling the session back.
  The handlers sit on the module's blueprints, so a host that mounts the module keeps its own
  error pages for its own routes.
"""
from __future__ import annotations

from flask import Blueprint, Flask, current_app, render_template, request
from markupsafe import Markup
from sqlalchemy.exc import DataError, InternalError, OperationalError
from werkzeug.routing import IntegerConverter

from ..extensions import db
from ..services.storage import MAX_ID, storage_problem
from .helpers import wants_fragment

#: The converter's name in URL rules: ``/logs/<smtp_id:letter_id>``.
ID_CONVERTER = "smtp_id"

BAD_VALUE_TEXT = "В запросе недопустимое значение. Обновите страницу и повторите."


class IdConverter(IntegerConverter):
    """A row id in a URL: ASCII digits, 1..2^31-1; other values do not match the rule (404)."""

    regex = r"[0-9]{1,10}"  # not ``\d``: Python's \d also takes other scripts' digits

    def __init__(self, url_map, *args, **kwargs) -> None:
        super().__init__(url_map, min=1, max=MAX_ID)


def register_converters(app: Flask) -> None:
    """Make ``smtp_id`` known to ``app``'s URL map (before the module's rules are added)."""
    app.url_map.converters[ID_CONVERTER] = IdConverter


def handle_module_errors(blueprint: Blueprint) -> Blueprint:
    """Answer storage failures and out-of-range database values on ``blueprint``'s routes."""
    blueprint.register_error_handler(OperationalError, storage_error)
    blueprint.register_error_handler(InternalError, storage_error)
    blueprint.register_error_handler(DataError, bad_value)
    return blueprint


def storage_error(error: OperationalError | InternalError):
    """503 with a Russian sentence for a database that cannot take the request."""
    text = storage_problem(error)
    db.session.rollback()
    if text is None:
        raise error  # not a storage state: the host's 500 handling sees it
    # The driver's own message says what happened; the statement and its values stay out.
    current_app.logger.warning("Storage failure on %s %s: %s", request.method, request.path,
                               getattr(error, "orig", error))
    response = error_response(503, "База данных недоступна", text)
    response.headers["Retry-After"] = "60"
    return response


def bad_value(error: DataError):
    """400 for a value the database refuses (out of range, malformed) that got past a form."""
    db.session.rollback()
    current_app.logger.warning("Value refused by the database on %s %s: %s", request.method,
                               request.path, getattr(error, "orig", error))
    return error_response(400, "Некорректный запрос", BAD_VALUE_TEXT)


def error_response(status: int, title: str, text: str):
    """The module's error page (the fragment for HTMX) with ``status``."""
    template = "portal_smtp/errors/_error.html" if wants_fragment() else \
        "portal_smtp/errors/page.html"
    try:
        body = render_template(template, status=status, title=title, text=text)
    except Exception:  # the layout itself may need the database that just failed
        db.session.rollback()
        body = Markup("<h1>{}</h1><p>{}</p>").format(title, text)
    return current_app.make_response((body, status))
