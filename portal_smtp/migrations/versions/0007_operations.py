"""operations: sending limits and their use, sender pauses and health, worker heartbeats,
hourly figures, letters sent in several transactions, mailboxes' IMAP status

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 19:00:00

Columns are only added (SQLite adds them in place, keeping AUTOINCREMENT); the new tables
hold nothing that letters refer to by id.

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

LIMITED = ('portal_smtp_account', 'portal_smtp_mailbox_sending', 'portal_smtp_crm_sender',
           'portal_smtp_mail_provider')
LIMITS = ('limit_minute', 'limit_hour', 'limit_day', 'limit_letter')


def upgrade():
    for table in LIMITED:
        with op.batch_alter_table(table) as batch:
            for name in LIMITS:
                batch.add_column(sa.Column(name, sa.Integer(), nullable=True))
    with op.batch_alter_table('portal_smtp_mailbox') as batch:
        batch.add_column(sa.Column('imap_check_at', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('imap_check_ok', sa.Boolean(), nullable=True))
        batch.add_column(sa.Column('imap_check_message', sa.Text(), nullable=True))
    with op.batch_alter_table('portal_smtp_outbox') as batch:
        batch.add_column(sa.Column('done_recipients', sa.Text(), server_default='',
                                   nullable=False))
    op.create_table(
        'portal_smtp_send_usage',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('transport_type', sa.String(length=16), nullable=False),
        sa.Column('transport_id', sa.Integer(), nullable=False),
        sa.Column('used_at', sa.DateTime(), nullable=False),
        sa.Column('recipients', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_smtp_send_usage')),
    )
    op.create_index('ix_portal_smtp_send_usage_window', 'portal_smtp_send_usage',
                    ['transport_type', 'transport_id', 'used_at'])
    op.create_table(
        'portal_smtp_sender_state',
        sa.Column('transport_type', sa.String(length=16), nullable=False),
        sa.Column('transport_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('reservations', sa.Integer(), nullable=False),
        sa.Column('paused_until', sa.DateTime(), nullable=True),
        sa.Column('pause_reason', sa.Text(), nullable=False),
        sa.Column('health_checked_at', sa.DateTime(), nullable=True),
        sa.Column('health_failures', sa.Integer(), nullable=False),
        sa.Column('health_notified_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('transport_type', 'transport_id',
                                name=op.f('pk_portal_smtp_sender_state')),
    )
    op.create_table(
        'portal_smtp_worker',
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=False),
        sa.Column('heartbeat_at', sa.DateTime(), nullable=False),
        sa.Column('processed', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_portal_smtp_worker')),
    )
    op.create_table(
        'portal_smtp_hourly_stats',
        sa.Column('hour', sa.DateTime(), nullable=False),
        sa.Column('transport_type', sa.String(length=16), nullable=False),
        sa.Column('transport_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('sent', sa.Integer(), nullable=False),
        sa.Column('failed', sa.Integer(), nullable=False),
        sa.Column('deferred', sa.Integer(), nullable=False),
        sa.Column('duration_ms', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('hour', 'transport_type', 'transport_id',
                                name=op.f('pk_portal_smtp_hourly_stats')),
    )
    # The shipped providers' published limits, where an administrator set none (SPEC §17).
    from portal_smtp.providers_seed import seed_limits

    seed_limits(op.get_bind())


def downgrade():
    op.drop_table('portal_smtp_hourly_stats')
    op.drop_table('portal_smtp_worker')
    op.drop_table('portal_smtp_sender_state')
    op.drop_index('ix_portal_smtp_send_usage_window', table_name='portal_smtp_send_usage')
    op.drop_table('portal_smtp_send_usage')
    with op.batch_alter_table('portal_smtp_outbox') as batch:
        batch.drop_column('done_recipients')
    with op.batch_alter_table('portal_smtp_mailbox') as batch:
        for name in ('imap_check_message', 'imap_check_ok', 'imap_check_at'):
            batch.drop_column(name)
    for table in reversed(LIMITED):
        with op.batch_alter_table(table) as batch:
            for name in reversed(LIMITS):
                batch.drop_column(name)
