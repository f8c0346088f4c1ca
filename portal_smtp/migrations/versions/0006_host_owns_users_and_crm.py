"""the host owns users and CRM entities: user keys without foreign keys

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 14:20:00

The module now mounts into any portal (SPEC §16): it keeps the host's user key in a text
column with no foreign key, and the users and CRM entities it used to create belong to the
host. On a database of the demo portal that holds them, those tables are renamed to the demo
host's names (its own migrations adopt them); where they are empty they are dropped.

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

#: (table, column, nullable) holding a user id, each with a foreign key to the users table.
USER_COLUMNS = (
    ('portal_smtp_mailbox', 'user_id', False),
    ('portal_smtp_crm_sender', 'user_id', False),
    ('portal_smtp_sender_confirmation', 'user_id', False),
    ('portal_smtp_email_template', 'user_id', False),
    ('portal_smtp_outbox', 'created_by_id', True),
    ('portal_smtp_cascade_log', 'actor_id', True),
)
#: The host's tables, children first, with the demo host's names for them.
HOST_TABLES = (
    ('portal_smtp_crm_activity', 'portal_crm_activity'),
    ('portal_smtp_crm_entity', 'portal_crm_entity'),
    ('portal_smtp_user', 'portal_user'),
)


#: Tables rebuilt here that keep AUTOINCREMENT on SQLite (0005: ids are never reused).
AUTOINCREMENT = {'portal_smtp_mailbox', 'portal_smtp_crm_sender', 'portal_smtp_outbox',
                 'portal_smtp_account'}


def _batch(table):
    """A batch that keeps the table's AUTOINCREMENT when SQLite rebuilds it."""
    kwargs = {'sqlite_autoincrement': True} if table in AUTOINCREMENT else {}
    return op.batch_alter_table(table, table_kwargs=kwargs)


def upgrade():
    connection = op.get_bind()
    sqlite = connection.dialect.name == 'sqlite'
    # A rebuilt table starts its sequence again at its highest id: keep each one's sequence,
    # which 0005 seeded above every id letters and logs still refer to.
    sequences = dict(connection.execute(sa.text(
        'SELECT name, seq FROM sqlite_sequence')).all()) if sqlite else {}
    for table, column, nullable in USER_COLUMNS:
        with _batch(table) as batch:
            batch.drop_constraint(f'fk_{table}_{column}_portal_smtp_user', type_='foreignkey')
            batch.alter_column(column, type_=sa.String(length=64),
                               existing_type=sa.Integer(), existing_nullable=nullable,
                               postgresql_using=f'{column}::text')
    with _batch('portal_smtp_outbox') as batch:
        batch.create_index('ix_portal_smtp_outbox_created_by_id', ['created_by_id'])
    with _batch('portal_smtp_account') as batch:
        batch.drop_column('note')
    # The timeline refers to letters without a foreign key: the module deletes old letters.
    with op.batch_alter_table('portal_smtp_crm_activity') as batch:
        batch.drop_constraint('fk_portal_smtp_crm_activity_outbox_id_portal_smtp_outbox',
                              type_='foreignkey')
    in_use = any(connection.execute(sa.text(f'SELECT count(*) FROM {old}')).scalar()
                 for old, _ in HOST_TABLES)
    for old, new in HOST_TABLES:
        if in_use:
            op.rename_table(old, new)
        else:
            op.drop_table(old)
    for table in AUTOINCREMENT & set(sequences):  # an empty rebuilt table has no row
        current = connection.execute(sa.text(
            'SELECT seq FROM sqlite_sequence WHERE name = :name'), {'name': table}).scalar()
        connection.execute(sa.text('DELETE FROM sqlite_sequence WHERE name = :name'),
                           {'name': table})
        connection.execute(sa.text('INSERT INTO sqlite_sequence (name, seq) VALUES (:name, :seq)'),
                           {'name': table, 'seq': max(current or 0, sequences[table])})


def downgrade():
    raise NotImplementedError('the users and CRM tables are the host\'s since 0006: restore '
                              'a backup to go back')
