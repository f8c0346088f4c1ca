"""The demo host's own Flask extensions: its database, login, CSRF and rate limiter.

A real portal has these already; the SMTP module is handed the database and uses the host's
limiter, and validates CSRF on its own routes itself. The demo's own tables have their own
migration history (Flask-Migrate, ``portal_smtp/portal/migrations``, ``flask db …``).
"""
from __future__ import annotations

from pathlib import Path

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import event

db = SQLAlchemy()
login_manager = LoginManager()
csrf = CSRFProtect()
# Storage comes from RATELIMIT_STORAGE_URI: memory:// in development, Redis in production
# so that every worker shares one count.


def new_limiter() -> Limiter:
    """A limiter for one app: Flask-Limiter keeps its storage and switches per instance, so
    an instance shared by several apps (tests build many) would count in the last one's."""
    return Limiter(key_func=get_remote_address, default_limits=[])
#: The demo host's own Alembic environment: its users and CRM tables, version table
#: ``alembic_version``; the SMTP module's tables are left out (see its ``env.py``).
MIGRATIONS_DIR = str(Path(__file__).resolve().with_name("migrations"))
migrate = Migrate(directory=MIGRATIONS_DIR)


def sqlite_pragmas(dbapi_connection, connection_record) -> None:
    """The demo host's own SQLite engine: WAL so readers never block the worker, foreign
    keys on, and a busy timeout so concurrent writers wait instead of failing."""
    if not type(dbapi_connection).__module__.startswith("sqlite3"):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.close()


def tune_engine(app) -> None:
    """Listen on this app's engine only (never on every ``Engine`` of the process)."""
    with app.app_context():
        event.listen(db.engine, "connect", sqlite_pragmas)
