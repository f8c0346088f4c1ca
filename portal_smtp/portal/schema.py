"""The demo host's database: the SMTP module's tables first, then the host's own.

The module migrates its tables itself (``portal_smtp.schema.upgrade_schema``, version table
``portal_smtp_alembic_version``); the demo host migrates its users and CRM with its own
history (Flask-Migrate, version table ``alembic_version``). The order matters on a database
made by an earlier release: the module's revision 0006 hands the users and CRM tables over
to the host's names, and the host's first revision then adopts them instead of creating them.
"""
from __future__ import annotations

import flask_migrate

from ..schema import upgrade_schema

#: The SMTP module's tables (and its version table) all start with this: the host's Alembic
#: environment neither compares nor drops them.
MODULE_PREFIX = "portal_smtp_"


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic filter of the host's environment: every table but the module's — the one
    filter the README tells a host to add to its own ``env.py``."""
    if type_ == "table":
        return not (name or "").startswith(MODULE_PREFIX)
    return True


def upgrade_database() -> None:
    """Create or upgrade the whole database in an application context: the module's tables,
    then the demo host's (``flask portal init-db``)."""
    upgrade_schema()
    flask_migrate.upgrade()
