"""mail providers and mailboxes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 07:11:03.177591

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('portal_smtp_mail_provider',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('imap_host', sa.String(length=253), nullable=False),
    sa.Column('imap_port', sa.Integer(), nullable=False),
    sa.Column('imap_security', sa.String(length=16), nullable=False),
    sa.Column('smtp_host', sa.String(length=253), nullable=False),
    sa.Column('smtp_port', sa.Integer(), nullable=False),
    sa.Column('smtp_security', sa.String(length=16), nullable=False),
    sa.Column('login_format', sa.String(length=16), nullable=False),
    sa.Column('auth_method', sa.String(length=16), nullable=False),
    sa.Column('oauth_client_id', sa.String(length=500), nullable=False),
    sa.Column('oauth_client_secret', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_smtp_mail_provider'))
    )
    op.create_table('portal_smtp_mail_provider_domain',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider_id', sa.Integer(), nullable=False),
    sa.Column('domain', sa.String(length=253), nullable=False),
    sa.ForeignKeyConstraint(['provider_id'], ['portal_smtp_mail_provider.id'], name=op.f('fk_portal_smtp_mail_provider_domain_provider_id_portal_smtp_mail_provider'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_smtp_mail_provider_domain')),
    sa.UniqueConstraint('domain', name=op.f('uq_portal_smtp_mail_provider_domain_domain'))
    )
    with op.batch_alter_table('portal_smtp_mail_provider_domain', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_portal_smtp_mail_provider_domain_provider_id'), ['provider_id'], unique=False)

    op.create_table('portal_smtp_mailbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('email_normalized', sa.String(length=254), nullable=False),
    sa.Column('provider_id', sa.Integer(), nullable=True),
    sa.Column('imap_host', sa.String(length=253), nullable=False),
    sa.Column('imap_port', sa.Integer(), nullable=False),
    sa.Column('imap_security', sa.String(length=16), nullable=False),
    sa.Column('imap_login', sa.String(length=320), nullable=False),
    sa.Column('imap_password', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['provider_id'], ['portal_smtp_mail_provider.id'], name=op.f('fk_portal_smtp_mailbox_provider_id_portal_smtp_mail_provider'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['user_id'], ['portal_smtp_user.id'], name=op.f('fk_portal_smtp_mailbox_user_id_portal_smtp_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_smtp_mailbox'))
    )
    with op.batch_alter_table('portal_smtp_mailbox', schema=None) as batch_op:
        batch_op.create_index('ix_portal_smtp_mailbox_owner', ['user_id', 'email_normalized'], unique=False)
        batch_op.create_index(batch_op.f('ix_portal_smtp_mailbox_provider_id'), ['provider_id'], unique=False)

    op.create_table('portal_smtp_mailbox_sending',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mailbox_id', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('use_provider', sa.Boolean(), nullable=False),
    sa.Column('host', sa.String(length=253), nullable=False),
    sa.Column('port', sa.Integer(), nullable=False),
    sa.Column('security', sa.String(length=16), nullable=False),
    sa.Column('auth_mode', sa.String(length=16), nullable=False),
    sa.Column('login', sa.String(length=320), nullable=False),
    sa.Column('password', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('last_check_at', sa.DateTime(), nullable=True),
    sa.Column('last_check_ok', sa.Boolean(), nullable=True),
    sa.Column('last_check_code', sa.String(length=32), nullable=True),
    sa.Column('last_check_message', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['mailbox_id'], ['portal_smtp_mailbox.id'], name=op.f('fk_portal_smtp_mailbox_sending_mailbox_id_portal_smtp_mailbox'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_smtp_mailbox_sending')),
    sa.UniqueConstraint('mailbox_id', name=op.f('uq_portal_smtp_mailbox_sending_mailbox_id'))
    )


    # Data step. If the shipped list changes later, a new migration adds the difference;
    # this one keeps filling a fresh database the same way.
    from portal_smtp.providers_seed import seed_directory

    seed_directory(op.get_bind())


def downgrade():
    op.drop_table('portal_smtp_mailbox_sending')
    with op.batch_alter_table('portal_smtp_mailbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_portal_smtp_mailbox_provider_id'))
        batch_op.drop_index('ix_portal_smtp_mailbox_owner')

    op.drop_table('portal_smtp_mailbox')
    with op.batch_alter_table('portal_smtp_mail_provider_domain', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_portal_smtp_mail_provider_domain_provider_id'))

    op.drop_table('portal_smtp_mail_provider_domain')
    op.drop_table('portal_smtp_mail_provider')
