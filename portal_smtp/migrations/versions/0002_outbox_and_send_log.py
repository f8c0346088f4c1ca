"""outbox and send log

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 06:44:55.723055

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('portal_smtp_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('mailing', sa.Boolean(), nullable=False),
    sa.Column('from_header', sa.String(length=1000), nullable=False),
    sa.Column('envelope_from', sa.String(length=320), nullable=False),
    sa.Column('recipients', sa.Text(), nullable=False),
    sa.Column('subject', sa.String(length=1000), nullable=False),
    sa.Column('message_id', sa.String(length=255), nullable=False),
    sa.Column('raw', sa.LargeBinary(), nullable=False),
    sa.Column('transport_type', sa.String(length=16), nullable=False),
    sa.Column('transport_id', sa.Integer(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
    sa.Column('claimed_by', sa.String(length=120), nullable=True),
    sa.Column('lease_until', sa.DateTime(), nullable=True),
    sa.Column('last_reply', sa.Text(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('refused_recipients', sa.Text(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['portal_smtp_user.id'], name=op.f('fk_portal_smtp_outbox_created_by_id_portal_smtp_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_smtp_outbox')),
    sa.UniqueConstraint('message_id', name=op.f('uq_portal_smtp_outbox_message_id'))
    )
    with op.batch_alter_table('portal_smtp_outbox', schema=None) as batch_op:
        batch_op.create_index('ix_portal_smtp_outbox_created', ['created_at', 'id'], unique=False)
        batch_op.create_index('ix_portal_smtp_outbox_due', ['status', 'next_attempt_at', 'id'], unique=False)

    op.create_table('portal_smtp_send_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('outbox_id', sa.Integer(), nullable=False),
    sa.Column('attempted_at', sa.DateTime(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('transport_type', sa.String(length=16), nullable=False),
    sa.Column('transport_id', sa.Integer(), nullable=True),
    sa.Column('account_label', sa.String(length=600), nullable=False),
    sa.Column('smtp_code', sa.Integer(), nullable=True),
    sa.Column('server_reply', sa.Text(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['outbox_id'], ['portal_smtp_outbox.id'], name=op.f('fk_portal_smtp_send_log_outbox_id_portal_smtp_outbox'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_smtp_send_log'))
    )
    with op.batch_alter_table('portal_smtp_send_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_portal_smtp_send_log_outbox_id'), ['outbox_id'], unique=False)
        batch_op.create_index('ix_portal_smtp_send_log_time', ['attempted_at', 'id'], unique=False)



def downgrade():
    with op.batch_alter_table('portal_smtp_send_log', schema=None) as batch_op:
        batch_op.drop_index('ix_portal_smtp_send_log_time')
        batch_op.drop_index(batch_op.f('ix_portal_smtp_send_log_outbox_id'))

    op.drop_table('portal_smtp_send_log')
    with op.batch_alter_table('portal_smtp_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_portal_smtp_outbox_due')
        batch_op.drop_index('ix_portal_smtp_outbox_created')

    op.drop_table('portal_smtp_outbox')
