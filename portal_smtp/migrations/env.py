"""The module's own Alembic environment: its tables, its version table, the host's database.

Run through :func:`portal_smtp.schema.upgrade_schema` (``flask smtp init-db``), which hands in
the connection. Only ``portal_smtp_*`` tables are compared, so the host's tables in the same
database are neither seen nor dropped.
"""
from alembic import context

from portal_smtp import models  # noqa: F401  (declares the tables)
from portal_smtp.extensions import Base
from portal_smtp.schema import VERSION_TABLE, include_name

config = context.config


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run the module's migrations with portal_smtp.schema.upgrade_schema")
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("the module's migrations run online only (flask smtp init-db)")
run_migrations_online()
