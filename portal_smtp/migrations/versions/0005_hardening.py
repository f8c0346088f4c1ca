"""hardening: letters bound to their sender, proof of addresses, ids never reused

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 13:20:00

SQLite hands out the id of a deleted row again unless the table says AUTOINCREMENT: a new
admin account could inherit the id a waiting letter still names. The tables whose ids a
letter or a log refers to are rebuilt with AUTOINCREMENT, and each sequence is seeded above
every id that letters and logs refer to. (PostgreSQL sequences never reuse ids.)

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

#: Tables rebuilt with AUTOINCREMENT on SQLite, with the ids that refer to them elsewhere.
REFERENCES = {
    'portal_smtp_user': [
        "SELECT max(created_by_id) FROM portal_smtp_outbox",
        "SELECT max(actor_id) FROM portal_smtp_cascade_log",
        "SELECT max(author_id) FROM portal_smtp_crm_activity",
        "SELECT max(owner_id) FROM portal_smtp_crm_entity",
    ],
    'portal_smtp_account': [
        "SELECT max(transport_id) FROM portal_smtp_outbox WHERE transport_type = 'account'",
        "SELECT max(transport_id) FROM portal_smtp_send_log WHERE transport_type = 'account'",
    ],
    'portal_smtp_mailbox': [
        "SELECT max(transport_id) FROM portal_smtp_outbox WHERE transport_type = 'mailbox'",
        "SELECT max(sender_id) FROM portal_smtp_outbox WHERE sender_type = 'mailbox'",
        "SELECT max(transport_id) FROM portal_smtp_send_log WHERE transport_type = 'mailbox'",
    ],
    'portal_smtp_crm_sender': [
        "SELECT max(transport_id) FROM portal_smtp_outbox WHERE transport_type = 'sender'",
        "SELECT max(sender_id) FROM portal_smtp_outbox WHERE sender_type = 'sender'",
        "SELECT max(transport_id) FROM portal_smtp_send_log WHERE transport_type = 'sender'",
    ],
    'portal_smtp_outbox': [
        "SELECT max(outbox_id) FROM portal_smtp_send_log",
        "SELECT max(outbox_id) FROM portal_smtp_crm_activity",
    ],
}


def upgrade():
    with op.batch_alter_table('portal_smtp_user') as batch:
        batch.add_column(sa.Column('session_epoch', sa.Integer(), server_default='0',
                                   nullable=False))
    with op.batch_alter_table('portal_smtp_outbox') as batch:
        batch.add_column(sa.Column('sender_type', sa.String(length=16), server_default='',
                                   nullable=False))
        batch.add_column(sa.Column('sender_id', sa.Integer(), nullable=True))
        batch.create_index('ix_portal_smtp_outbox_sender', ['sender_type', 'sender_id'])
        batch.create_index('ix_portal_smtp_outbox_transport', ['transport_type', 'transport_id'])
    with op.batch_alter_table('portal_smtp_mailbox') as batch:
        batch.add_column(sa.Column('imap_source', sa.String(length=16), server_default='manual',
                                   nullable=False))
        batch.add_column(sa.Column('address_proof', sa.String(length=16), server_default='',
                                   nullable=False))
    with op.batch_alter_table('portal_smtp_crm_sender') as batch:
        batch.add_column(sa.Column('address_proven', sa.Boolean(), server_default=sa.false(),
                                   nullable=False))

    connection = op.get_bind()
    # Letters queued from a user's own server are bound to that sender from now on.
    connection.execute(sa.text(
        "UPDATE portal_smtp_outbox SET sender_type = transport_type, sender_id = transport_id "
        "WHERE transport_type IN ('mailbox', 'sender')"))
    # Senders without their own server were added by a code sent to the address.
    connection.execute(sa.text(
        "UPDATE portal_smtp_crm_sender SET address_proven = :yes WHERE has_smtp = :no"),
        {"yes": True, "no": False})
    _judge_mailboxes(connection)

    if connection.dialect.name == 'sqlite':
        for table in REFERENCES:
            with op.batch_alter_table(table, recreate='always',
                                      table_kwargs={'sqlite_autoincrement': True}):
                pass
        _seed_sequences(connection)


def _judge_mailboxes(connection) -> None:
    """Where each mailbox's IMAP settings came from, and whether its login proves the
    address (the rule of services/routing.py as of this revision)."""
    domains = dict(connection.execute(sa.text(
        "SELECT domain, provider_id FROM portal_smtp_mail_provider_domain")).all())
    rows = connection.execute(sa.text(
        "SELECT m.id, m.email_normalized, m.imap_login, m.provider_id, p.login_format "
        "FROM portal_smtp_mailbox m "
        "LEFT JOIN portal_smtp_mail_provider p ON p.id = m.provider_id")).all()
    for mailbox_id, address, login, provider_id, login_format in rows:
        local_part, _, domain = address.rpartition('@')
        if provider_id is None:
            source = 'manual'
        else:
            source = 'directory' if domains.get(domain) == provider_id else 'chosen'
        derived = {address} | ({local_part} if login_format in ('local_part', 'manual') else set())
        proof = 'imap' if source == 'directory' and (login or '').strip().lower() in derived \
            else ''
        connection.execute(sa.text(
            "UPDATE portal_smtp_mailbox SET imap_source = :source, address_proof = :proof "
            "WHERE id = :id"), {"source": source, "proof": proof, "id": mailbox_id})


def _seed_sequences(connection) -> None:
    """Each rebuilt table's sequence starts above every id anything still refers to."""
    for table, queries in REFERENCES.items():
        highest = connection.execute(sa.text(f"SELECT max(id) FROM {table}")).scalar() or 0
        for query in queries:
            highest = max(highest, connection.execute(sa.text(query)).scalar() or 0)
        connection.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = :name"),
                           {"name": table})
        connection.execute(sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES (:name, :seq)"),
                           {"name": table, "seq": highest})


def downgrade():
    with op.batch_alter_table('portal_smtp_crm_sender') as batch:
        batch.drop_column('address_proven')
    with op.batch_alter_table('portal_smtp_mailbox') as batch:
        batch.drop_column('address_proof')
        batch.drop_column('imap_source')
    with op.batch_alter_table('portal_smtp_outbox') as batch:
        batch.drop_index('ix_portal_smtp_outbox_transport')
        batch.drop_index('ix_portal_smtp_outbox_sender')
        batch.drop_column('sender_id')
        batch.drop_column('sender_type')
    with op.batch_alter_table('portal_smtp_user') as batch:
        batch.drop_column('session_epoch')
