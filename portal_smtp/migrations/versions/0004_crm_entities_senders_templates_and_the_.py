"""crm entities, senders, templates and the cascade log

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 07:36:19.788751

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('portal_smtp_cascade_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('details', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['portal_smtp_user.id'], name=op.f('fk_portal_smtp_cascade_log_actor_id_portal_smtp_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_smtp_cascade_log'))
    )
    op.create_table('portal_smtp_crm_entity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['portal_smtp_user.id'], name=op.f('fk_portal_smtp_crm_entity_owner_id_portal_smtp_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_smtp_crm_entity'))
    )
    op.create_table('portal_smtp_crm_sender',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('email_normalized', sa.String(length=254), nullable=False),
    sa.Column('shared', sa.Boolean(), nullable=False),
    sa.Column('has_smtp', sa.Boolean(), nullable=False),
    sa.Column('smtp_host', sa.String(length=253), nullable=False),
    sa.Column('smtp_port', sa.Integer(), nullable=False),
    sa.Column('smtp_security', sa.String(length=16), nullable=False),
    sa.Column('smtp_login', sa.String(length=320), nullable=False),
    sa.Column('smtp_password', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_check_at', sa.DateTime(), nullable=True),
    sa.Column('last_check_ok', sa.Boolean(), nullable=True),
    sa.Column('last_check_code', sa.String(length=32), nullable=True),
    sa.Column('last_check_message', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['portal_smtp_user.id'], name=op.f('fk_portal_smtp_crm_sender_user_id_portal_smtp_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_smtp_crm_sender'))
    )
    with op.batch_alter_table('portal_smtp_crm_sender', schema=None) as batch_op:
        batch_op.create_index('ix_portal_smtp_crm_sender_owner', ['user_id', 'email_normalized'], unique=False)

    op.create_table('portal_smtp_email_template',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('subject', sa.String(length=1000), nullable=False),
    sa.Column('body_html', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['portal_smtp_user.id'], name=op.f('fk_portal_smtp_email_template_user_id_portal_smtp_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_smtp_email_template'))
    )
    with op.batch_alter_table('portal_smtp_email_template', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_portal_smtp_email_template_user_id'), ['user_id'], unique=False)

    op.create_table('portal_smtp_sender_confirmation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('email_normalized', sa.String(length=254), nullable=False),
    sa.Column('shared', sa.Boolean(), nullable=False),
    sa.Column('code_hash', sa.String(length=256), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('sends', sa.Integer(), nullable=False),
    sa.Column('last_sent_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['portal_smtp_user.id'], name=op.f('fk_portal_smtp_sender_confirmation_user_id_portal_smtp_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_smtp_sender_confirmation'))
    )
    with op.batch_alter_table('portal_smtp_sender_confirmation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_portal_smtp_sender_confirmation_user_id'), ['user_id'], unique=False)

    op.create_table('portal_smtp_crm_activity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('subject', sa.String(length=1000), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('outbox_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['author_id'], ['portal_smtp_user.id'], name=op.f('fk_portal_smtp_crm_activity_author_id_portal_smtp_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['entity_id'], ['portal_smtp_crm_entity.id'], name=op.f('fk_portal_smtp_crm_activity_entity_id_portal_smtp_crm_entity'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['outbox_id'], ['portal_smtp_outbox.id'], name=op.f('fk_portal_smtp_crm_activity_outbox_id_portal_smtp_outbox'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_smtp_crm_activity'))
    )
    with op.batch_alter_table('portal_smtp_crm_activity', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_portal_smtp_crm_activity_entity_id'), ['entity_id'], unique=False)



def downgrade():
    with op.batch_alter_table('portal_smtp_crm_activity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_portal_smtp_crm_activity_entity_id'))

    op.drop_table('portal_smtp_crm_activity')
    with op.batch_alter_table('portal_smtp_sender_confirmation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_portal_smtp_sender_confirmation_user_id'))

    op.drop_table('portal_smtp_sender_confirmation')
    with op.batch_alter_table('portal_smtp_email_template', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_portal_smtp_email_template_user_id'))

    op.drop_table('portal_smtp_email_template')
    with op.batch_alter_table('portal_smtp_crm_sender', schema=None) as batch_op:
        batch_op.drop_index('ix_portal_smtp_crm_sender_owner')

    op.drop_table('portal_smtp_crm_sender')
    op.drop_table('portal_smtp_crm_entity')
    op.drop_table('portal_smtp_cascade_log')
