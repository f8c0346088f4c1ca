"""What the module shares with its host: the database it is handed, and its own model base.

The module's tables are declared on its own :class:`Base` (its own ``MetaData``), and live in
the host's database through the host's Flask-SQLAlchemy instance, handed to
``PortalSmtp(app, db=…)``. :data:`db` reaches that instance for the current application, so
services write ``db.session`` whichever host they run in. Nothing here touches an engine or
an application: the module sets no pragma and registers no listener on the host's engine.
"""
from __future__ import annotations

from typing import Any

from flask import current_app
from flask_htmx import HTMX
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """The module's models: deterministic constraint names, so migrations stay portable."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class HostDatabase:
    """The host's Flask-SQLAlchemy instance for the current application (``db.session``,
    ``db.engine``, ``db.get_or_404`` …), as handed to ``PortalSmtp(app, db=…)``."""

    def __getattr__(self, name: str) -> Any:
        try:
            target = current_app.extensions["portal_smtp"].db
        except KeyError:
            raise RuntimeError("portal_smtp is not initialised on this application: call "
                               "PortalSmtp(app, db=db)") from None
        return getattr(target, name)

    @property
    def metadata(self) -> MetaData:
        """The module's own tables (not the host's)."""
        return Base.metadata

    def __repr__(self) -> str:
        return "<portal_smtp host database>"


db = HostDatabase()
# Reads the HTMX request headers; never ``init_app``-ed, which would add an unprefixed
# ``htmx`` to the host's templates.
htmx = HTMX()
