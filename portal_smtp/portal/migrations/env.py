"""The demo host's own Alembic environment (Flask-Migrate): its users and CRM tables.

The version table is the host's default, ``alembic_version``. The SMTP module's tables live in
the same database but are the module's to migrate (``flask smtp init-db``), so
:func:`~portal_smtp.portal.schema.include_name` leaves every ``portal_smtp_*`` table — its
version table included — out: ``flask db migrate`` neither sees nor drops them.
"""
from alembic import context
from flask import current_app

from portal_smtp.portal import models  # noqa: F401  (declares the tables)
from portal_smtp.portal.schema import include_name

config = context.config


def _settings() -> dict:
    """What Flask-Migrate was configured with (``compare_type``, ``render_as_batch`` …)."""
    migrate = current_app.extensions["migrate"]
    return {**migrate.configure_args, "target_metadata": migrate.db.metadata,
            "include_name": include_name}


def _skip_empty_revisions(context_, revision, directives) -> None:
    """``flask db migrate`` writes no revision when the host's models did not change."""
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []


def run_migrations_offline() -> None:
    """``flask db upgrade --sql``: the SQL, printed."""
    engine = current_app.extensions["migrate"].db.engine
    context.configure(url=engine.url.render_as_string(hide_password=False), literal_binds=True,
                      **_settings())
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate the host's database through its own engine."""
    engine = current_app.extensions["migrate"].db.engine
    with engine.connect() as connection:
        context.configure(connection=connection,
                          process_revision_directives=_skip_empty_revisions, **_settings())
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
