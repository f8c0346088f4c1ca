"""initial schema

Revision ID: 0001
Revises: -
Create Date: 2026-11-24 06:20:11.589575

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('portal_smtp_account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('sender_name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('email_normalized', sa.String(length=254), nullable=False),
    sa.Column('host', sa.String(length=253), nullable=False),
    sa.Column('port', sa.Integer(), nullable=False),
    sa.Column('security', sa.String(length=16), nullable=False),
    sa.Column('auth', sa.String(length=16), nullable=False),
    sa.Column('login', sa.String(length=320), nullable=False),
    sa.Column('password', sa.Text(), nullable=True),
    sa.Column('timeout', sa.Float(), nullable=True),
    sa.Column('verify_tls', sa.Boolean(), nullable=False),
    sa.Column('mailing_first', sa.Boolean(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('last_check_at', sa.DateTime(), nullable=True),
    sa.Column('last_check_ok', sa.Boolean(), nullable=True),
    sa.Column('last_check_code', sa.String(length=32), nullable=True),
    sa.Column('last_check_message', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_smtp_account'))
    )
    with op.batch_alter_table('portal_smtp_account', schema=None) as batch_op:
        batch_op.create_index('ix_portal_smtp_account_active_id', ['active', 'id'], unique=False)
        batch_op.create_index('ix_portal_smtp_account_host_id', ['host', 'id'], unique=False)
        batch_op.create_index('ix_portal_smtp_account_lookup', ['email_normalized', 'active'], unique=False)

    op.create_table('portal_smtp_module_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('send_test_letter', sa.Boolean(), nullable=False),
    sa.Column('test_email', sa.String(length=254), nullable=False),
    sa.Column('log_retention_days', sa.Integer(), nullable=False),
    sa.Column('default_timeout', sa.Integer(), nullable=False),
    sa.Column('allow_hosts', sa.Text(), nullable=False),
    sa.Column('allow_ports', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_smtp_module_settings'))
    )
    op.create_table('portal_smtp_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('full_name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('password_hash', sa.String(length=256), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_smtp_user')),
    sa.UniqueConstraint('username', name=op.f('uq_portal_smtp_user_username'))
    )


def downgrade():
    op.drop_table('portal_smtp_user')
    op.drop_table('portal_smtp_module_settings')
    with op.batch_alter_table('portal_smtp_account', schema=None) as batch_op:
        batch_op.drop_index('ix_portal_smtp_account_lookup')
        batch_op.drop_index('ix_portal_smtp_account_host_id')
        batch_op.drop_index('ix_portal_smtp_account_active_id')

    op.drop_table('portal_smtp_account')
