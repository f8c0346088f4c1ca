"""Revision 0005 upgrades a database in place: letters bound to their senders, mailboxes
judged for proof, and — on SQLite — ids never handed out again (issue #10 item 2)."""
from __future__ import annotations

from portal_smtp.extensions import db
from portal_smtp.models import SmtpAccount
from portal_smtp.portal import create_app
from portal_smtp.schema import upgrade_schema
from portal_smtp.smtp.addresses import normalize_address

from .conftest import _config, dispose

NOW = "2026-11-01 10:00:00"


def _rows(connection) -> None:
    """Data as the 0004 schema held it: account 4 deleted while a letter waited for it and
    a log named account 5; a mailbox on its domain's provider and one typed by hand."""
    run = connection.exec_driver_sql
    run("INSERT INTO portal_smtp_user (id, username, full_name, email, role, password_hash, "
        f"active, created_at) VALUES (1, 'anna', 'Анна', 'anna@example.com', 'user', '-', 1, "
        f"'{NOW}')")
    for account_id in (1, 2, 3):
        run("INSERT INTO portal_smtp_account (id, active, sender_name, email, email_normalized,"
            " host, port, security, auth, login, verify_tls, mailing_first, note, created_at, "
            f"updated_at) VALUES ({account_id}, 1, '', 'a{account_id}@example.com', "
            f"'a{account_id}@example.com', 'smtp.example.com', 465, 'ssl', 'none', '', 1, 0, "
            f"'', '{NOW}', '{NOW}')")
    run("INSERT INTO portal_smtp_outbox (id, created_at, status, mailing, from_header, "
        "envelope_from, recipients, subject, message_id, raw, transport_type, transport_id, "
        "attempts, next_attempt_at, last_reply, last_error, refused_recipients, created_by_id) "
        f"VALUES (7, '{NOW}', 'queued', 0, 'x@example.com', 'x@example.com', 'y@example.org',"
        f" '', '<a@example.com>', X'00', 'account', 4, 0, '{NOW}', '', '', '', 1)")
    run("INSERT INTO portal_smtp_outbox (id, created_at, status, mailing, from_header, "
        "envelope_from, recipients, subject, message_id, raw, transport_type, transport_id, "
        "attempts, next_attempt_at, last_reply, last_error, refused_recipients, created_by_id) "
        f"VALUES (8, '{NOW}', 'queued', 0, 'x@corp.example', 'x@corp.example', 'y@example.org',"
        f" '', '<b@example.com>', X'00', 'mailbox', 2, 0, '{NOW}', '', '', '', 1)")
    run("INSERT INTO portal_smtp_send_log (id, outbox_id, attempted_at, attempt, status, "
        "transport_type, transport_id, account_label, server_reply, error, duration_ms) "
        f"VALUES (1, 7, '{NOW}', 1, 'deferred', 'account', 5, '', '', '', 0)")
    provider = connection.exec_driver_sql(
        "SELECT provider_id FROM portal_smtp_mail_provider_domain WHERE domain = 'yandex.ru'"
    ).scalar()
    for mailbox_id, address, provider_id, login in (
            (1, "anna@yandex.ru", provider, "anna@yandex.ru"),
            (2, "x@corp.example", None, "x@corp.example")):
        run("INSERT INTO portal_smtp_mailbox (id, user_id, email, email_normalized, "
            "provider_id, imap_host, imap_port, imap_security, imap_login, created_at) VALUES "
            f"({mailbox_id}, 1, '{address}', '{address}', "
            f"{provider_id if provider_id else 'NULL'}, 'imap.example.com', 993, 'ssl', "
            f"'{login}', '{NOW}')")
    run("INSERT INTO portal_smtp_mailbox_sending (id, mailbox_id, enabled, use_provider, host,"
        " port, security, auth_mode, login, updated_at, last_check_ok) VALUES (1, 2, 1, 0, "
        f"'smtp.corp.example', 587, 'starttls', 'imap', '', '{NOW}', 1)")
    for sender_id, has_smtp in ((1, 0), (2, 1)):
        run("INSERT INTO portal_smtp_crm_sender (id, user_id, name, email, email_normalized, "
            "shared, has_smtp, smtp_host, smtp_port, smtp_security, smtp_login, created_at, "
            f"last_check_ok) VALUES ({sender_id}, 1, '', 's{sender_id}@example.com', "
            f"'s{sender_id}@example.com', 0, {has_smtp}, '', 587, 'starttls', '', '{NOW}', 1)")


def test_an_existing_database_upgrades_in_place(tmp_path):
    uri = f"sqlite:///{tmp_path / 'old.db'}"
    app = create_app(_config(uri))
    try:
        with app.app_context():
            upgrade_schema("0004")
            with db.engine.begin() as connection:
                _rows(connection)
            upgrade_schema()
            with db.engine.connect() as connection:
                query = connection.exec_driver_sql
                # Nothing hanging on the rebuilt tables was lost to ON DELETE actions.
                assert query("SELECT count(*) FROM portal_smtp_mailbox_sending").scalar() == 1
                assert query("SELECT count(*) FROM portal_smtp_outbox").scalar() == 2
                assert query("SELECT count(*) FROM portal_smtp_send_log").scalar() == 1
                assert query("SELECT sender_type, sender_id FROM portal_smtp_outbox "
                             "ORDER BY id").all() == [("", None), ("mailbox", 2)]
                assert query("SELECT id, imap_source, address_proof FROM portal_smtp_mailbox "
                             "ORDER BY id").all() == [(1, "directory", "imap"),
                                                      (2, "manual", "")]
                assert query("SELECT id, address_proven FROM portal_smtp_crm_sender "
                             "ORDER BY id").all() == [(1, 1), (2, 0)]
                assert "AUTOINCREMENT" in query(
                    "SELECT sql FROM sqlite_master WHERE name = 'portal_smtp_account'").scalar()
                assert query("PRAGMA foreign_keys").scalar() == 1
            # Letters and logs named accounts 4 and 5: a new account gets 6.
            account = SmtpAccount(email="new@example.com",
                                  email_normalized=normalize_address("new@example.com"),
                                  host="smtp.example.com", port=465, security="ssl",
                                  auth="none")
            db.session.add(account)
            db.session.commit()
            assert account.id == 6
    finally:
        dispose(app)
