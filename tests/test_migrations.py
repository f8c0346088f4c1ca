"""The migrations build exactly the schema the models describe (SQLite and PostgreSQL)."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from portal_smtp.extensions import db
from portal_smtp.schema import VERSION_TABLE, include_name


def test_models_and_migrations_agree(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "include_name": include_name, "version_table": VERSION_TABLE})
        differences = compare_metadata(context, db.metadata)
    assert differences == []
