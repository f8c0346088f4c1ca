"""The Flask extensions the portal and the SMTP module share, created unbound here."""
from __future__ import annotations

from flask_htmx import HTMX
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import Engine, MetaData, event
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base with deterministic constraint names, so migrations stay portable."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
htmx = HTMX()
# Storage comes from RATELIMIT_STORAGE_URI: memory:// in development, Redis in production
# so that every worker shares one count.
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def bind_shared_extensions(app, migrations_dir: str) -> None:
    """Bind the shared extensions to ``app`` once, whichever of portal or module comes first."""
    if "sqlalchemy" not in app.extensions:
        db.init_app(app)
    if "migrate" not in app.extensions:
        migrate.init_app(app, db, directory=migrations_dir)
    if "csrf" not in app.extensions:
        csrf.init_app(app)
    if "limiter" not in app.extensions:
        limiter.init_app(app)
    htmx.init_app(app)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    """SQLite: WAL so readers never block the worker, foreign keys on, and a busy timeout
    so concurrent writers wait instead of failing."""
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.close()
