"""The module's own tables, migrated by the module's own Alembic environment.

Its revisions live in ``portal_smtp/migrations`` and its version in its own table,
``portal_smtp_alembic_version``, so the host's Alembic history (``alembic_version``) is never
touched, and the host's autogenerate can leave ``portal_smtp_*`` tables alone (README). A
database made before the module had its own version table has the module's revision in
``alembic_version``; :func:`upgrade_schema` moves it over first.
"""
from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

from .extensions import db
from .paths import MIGRATIONS_DIR

VERSION_TABLE = "portal_smtp_alembic_version"
#: Where earlier releases kept the module's revision.
LEGACY_VERSION_TABLE = "alembic_version"
#: The module's tables all carry this prefix (the host's Alembic filter uses it too).
TABLE_PREFIX = "portal_smtp_"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration of the module's migrations on ``connection``."""
    config = Config()
    config.set_main_option("script_location", MIGRATIONS_DIR)
    config.attributes["connection"] = connection
    return config


def upgrade_schema(revision: str = "head") -> None:
    """Create or upgrade the module's tables in the host's database (inside an app context).

    On SQLite, foreign keys are off while migrations rebuild tables (a dropped table's
    ON DELETE actions would otherwise run) and restored to what they were afterwards.
    """
    with db.engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        keys_on = sqlite and bool(connection.exec_driver_sql("PRAGMA foreign_keys").scalar())
        if keys_on:
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        try:
            _adopt_legacy_version(connection)
            connection.commit()
            command.upgrade(alembic_config(connection), revision)
            connection.commit()
            if sqlite:
                problems = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if problems:
                    raise RuntimeError(f"foreign keys broken by a migration: {problems[:5]}")
        finally:
            if keys_on:
                connection.rollback()
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


def _adopt_legacy_version(connection: Connection) -> None:
    """Move the module's revision from ``alembic_version`` into its own version table."""
    tables = set(inspect(connection).get_table_names())
    if VERSION_TABLE in tables or LEGACY_VERSION_TABLE not in tables:
        return
    ours = {script.revision for script in
            ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    rows = connection.execute(text(f"SELECT version_num FROM {LEGACY_VERSION_TABLE}")).all()
    found = [version for (version,) in rows if version in ours]
    if not found:
        return
    connection.execute(text(f"CREATE TABLE {VERSION_TABLE} (version_num VARCHAR(32) NOT NULL, "
                            f"CONSTRAINT {VERSION_TABLE}_pkc PRIMARY KEY (version_num))"))
    connection.execute(text(f"INSERT INTO {VERSION_TABLE} (version_num) VALUES (:version)"),
                       {"version": found[0]})
    connection.execute(text(f"DELETE FROM {LEGACY_VERSION_TABLE} WHERE version_num = :version"),
                       {"version": found[0]})
    if len(rows) == 1:  # the module was its only user: nothing of the host's is left in it
        connection.execute(text(f"DROP TABLE {LEGACY_VERSION_TABLE}"))


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic filter: only the module's own tables (the host's are not the module's)."""
    if type_ == "table":
        return bool(name) and name.startswith(TABLE_PREFIX) and name != VERSION_TABLE
    return True
