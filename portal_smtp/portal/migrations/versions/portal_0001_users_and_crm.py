"""the demo host's users and CRM

Revision ID: portal_0001
Revises:
Create Date: 2026-11-25 10:00:00

The demo host's first revision. Its tables were the SMTP module's until the module's revision
0006, which renames them to these names on a database that holds rows (and drops them when
empty). So each table is created only when it is not there yet: an existing demo database
keeps its users and CRM, a new one gets empty tables. Run after the module's migrations
(``flask portal init-db`` does).

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'portal_0001'
down_revision = None
branch_labels = None
depends_on = None


def _user_table() -> None:
    op.create_table(
        'portal_user',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('full_name', sa.String(length=200), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('password_hash', sa.String(length=256), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('session_epoch', sa.Integer(), server_default='0', nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('username'),
        sqlite_autoincrement=True,
    )


def _entity_table() -> None:
    op.create_table(
        'portal_crm_entity',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('title', sa.String(length=300), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('owner_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['owner_id'], ['portal_user.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )


def _activity_table() -> None:
    op.create_table(
        'portal_crm_activity',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('entity_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('author_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('subject', sa.String(length=1000), nullable=False),
        sa.Column('summary', sa.Text(), nullable=False),
        sa.Column('outbox_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['author_id'], ['portal_user.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['entity_id'], ['portal_crm_entity.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_portal_crm_activity_entity_id', 'portal_crm_activity', ['entity_id'])


#: Parents first: each table's foreign keys name the ones before it.
TABLES = (
    ('portal_user', _user_table),
    ('portal_crm_entity', _entity_table),
    ('portal_crm_activity', _activity_table),
)


#: The index an adopted timeline table still carries under the module's old table name.
LEGACY_INDEX = 'ix_portal_smtp_crm_activity_entity_id'


def upgrade():
    inspector = sa.inspect(op.get_bind())
    existing = set(inspector.get_table_names())
    for name, create in TABLES:
        if name not in existing:
            create()
    if 'portal_crm_activity' in existing and LEGACY_INDEX in {
            index['name'] for index in inspector.get_indexes('portal_crm_activity')}:
        op.drop_index(LEGACY_INDEX, table_name='portal_crm_activity')
        op.create_index('ix_portal_crm_activity_entity_id', 'portal_crm_activity', ['entity_id'])


def downgrade():
    for name, _ in reversed(TABLES):
        op.drop_table(name)
