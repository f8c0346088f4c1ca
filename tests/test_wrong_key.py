"""SPEC §9 with a wrong key: a valid Fernet key that does not decrypt the stored secrets (a
deploy changed ``PORTAL_SMTP_KEYS``). Pages stay usable and say so, the CLI keeps working,
the worker keeps other letters flowing and defers the affected ones, ``rotate-keys`` changes
nothing, and ``rotate-keys`` in development leaves keys the next start reads.

Every test stores its secrets through an app built with another key over the same database,
then uses the ``app`` fixture (the test key) as the portal after the deploy.
"""
from __future__ import annotations

import json
import logging
from email.message import EmailMessage
from types import SimpleNamespace

import pytest
from cryptography.fernet import Fernet
from playwright.sync_api import expect
from sqlalchemy import Text, select, type_coerce, update
from sqlalchemy.exc import StatementError

from portal_smtp import send_mail
from portal_smtp.crypto import (
    UNREADABLE_LABEL,
    WRONG_KEY_MESSAGE,
    WRONG_KEY_MESSAGE_EN,
    UnreadableSecret,
)
from portal_smtp.extensions import db
from portal_smtp.models import (
    CrmSender,
    Mailbox,
    MailboxSending,
    MailProvider,
    OutboxMessage,
    SendLog,
    SmtpAccount,
)
from portal_smtp.models.smtp_server import settings_for
from portal_smtp.portal import create_app
from portal_smtp.portal.models import CrmEntity
from portal_smtp.smtp import SmtpSettings
from portal_smtp.smtp.settings import InvalidSettings, UnusableSecretError

from .conftest import browser_login, csrf_token, dispose, login, screenshot
from .factories import make_account
from .servers import USERS

LOGIN = "user@example.com"  # the readable account: the test server knows its password
LOCKED = "locked@example.com"  # the account stored under the old key
SECRETS = {
    "account": "Старый-пароль-аккаунта-1",
    "imap": "Старый-пароль-IMAP-2",
    "sending": "Старый-пароль-отправки-3",
    "sender": "Старый-пароль-CRM-4",
    "oauth": "old-oauth-client-secret-5",
}


@pytest.fixture
def stored(app, app_config, users, smtp):
    """Rows with every kind of secret, written by the portal before the deploy (another
    key); returns their ids, the old key and the raw tokens as stored."""
    old_key = Fernet.generate_key().decode()
    before = create_app({**app_config, "SMTP_KEYS": old_key})
    with before.app_context():
        account = make_account(LOCKED, "Старый аккаунт", host=smtp.plain.host,
                               port=smtp.plain.port, security="none", auth="login",
                               login=LOCKED, password=SECRETS["account"])
        provider = MailProvider(
            name="Старый сервис", imap_host="imap.example.com", imap_port=993,
            imap_security="ssl", smtp_host="smtp.example.com", smtp_port=465,
            smtp_security="ssl", auth_method="oauth2", oauth_client_id="client-id",
            oauth_client_secret=SECRETS["oauth"])
        mailbox = Mailbox(user_id=users.ivanov.id, email="anna@corp.example",
                          email_normalized="anna@corp.example", imap_host="imap.corp.example",
                          imap_port=993, imap_security="ssl", imap_login="anna@corp.example",
                          imap_password=SECRETS["imap"])
        mailbox.sending = MailboxSending(host="smtp.corp.example", port=587,
                                         security="starttls", auth_mode="custom",
                                         login="anna@corp.example",
                                         password=SECRETS["sending"])
        sender = CrmSender(user_id=users.ivanov.id, name="Борис", email="boris@corp.example",
                           email_normalized="boris@corp.example", has_smtp=True,
                           smtp_host="smtp.corp.example", smtp_port=587,
                           smtp_security="starttls", smtp_login="boris@corp.example",
                           smtp_password=SECRETS["sender"])
        deal = CrmEntity(kind="deal", title="Поставка", email="client@example.org",
                         owner_id=users.ivanov.id)
        db.session.add_all([provider, mailbox, sender, deal])
        db.session.commit()
        ids = SimpleNamespace(account=account.id, provider=provider.id, mailbox=mailbox.id,
                              sending=mailbox.sending.id, sender=sender.id, deal=deal.id)
    tokens = raw_tokens(before)
    dispose(before)
    return SimpleNamespace(ids=ids, old_key=old_key, tokens=tokens)


def raw_tokens(app) -> dict[str, str]:
    """Every stored token as it is in the database, by table.column."""
    from portal_smtp.services.secrets import encrypted_columns

    found = {}
    with app.app_context():
        for table, column in encrypted_columns():
            key = next(iter(table.primary_key.columns))
            query = select(key, type_coerce(column, Text())).where(column.is_not(None))
            for row_id, token in db.session.execute(query):
                found[f"{table.name}.{column.name}#{row_id}"] = token
    return found


def assert_no_secret(text: str, stored) -> None:
    """Neither a plaintext nor a stored token nor the stand-in's NUL leaks into ``text``."""
    for secret in SECRETS.values():
        assert secret not in text
    for token in stored.tokens.values():
        assert token not in text
    assert "\x00" not in text


@pytest.fixture
def admin(client, users):
    login(client, users.admin)
    return client


@pytest.fixture
def ivanov(app, users):
    browser = app.test_client()
    login(browser, users.ivanov)
    return browser


# --- the stand-in ---------------------------------------------------------------------------

def test_unreadable_secret_loads_as_a_stand_in_that_no_server_ever_gets(app, stored, caplog):
    with caplog.at_level(logging.WARNING, logger="portal_smtp.crypto"), app.app_context():
        account = db.session.get(SmtpAccount, stored.ids.account)
        secret = account.password
        assert isinstance(secret, UnreadableSecret)
        assert secret.token == stored.tokens[f"portal_smtp_account.password#{account.id}"]
        with pytest.raises(UnusableSecretError, match="ключ шифрования не подходит"):
            settings_for(account)
        # A plain copy of the stand-in is refused too (its text starts with NUL).
        with pytest.raises(InvalidSettings):
            SmtpSettings(host="127.0.0.1", login="x", password=str(secret))
        # Without authentication it is simply not used.
        assert SmtpSettings(host="127.0.0.1", auth="none", password=secret).password == ""
    assert WRONG_KEY_MESSAGE_EN in caplog.text
    for token in stored.tokens.values():
        assert token not in caplog.text and token not in repr(secret)


def test_saving_a_row_never_encrypts_the_stand_in_over_the_real_token(app, stored):
    with app.app_context():
        sender = db.session.get(CrmSender, stored.ids.sender)
        sender.name = "Борис Петров"
        sender.smtp_password = sender.smtp_password  # assigned back, as a form would
        db.session.commit()
        box = db.session.get(Mailbox, stored.ids.mailbox)
        copy = str(box.imap_password)  # a plain copy of the stand-in must never be stored
        with pytest.raises(StatementError) as refused:
            db.session.execute(update(Mailbox).where(Mailbox.id == box.id)
                               .values(imap_password=copy))
        assert isinstance(refused.value.orig, UnusableSecretError)
        db.session.rollback()
    assert raw_tokens(app) == stored.tokens
    assert Fernet(stored.old_key.encode()).decrypt(
        stored.tokens[f"portal_smtp_crm_sender.smtp_password#{stored.ids.sender}"].encode()
    ).decode() == SECRETS["sender"]


# --- pages ----------------------------------------------------------------------------------

def test_admin_pages_answer_and_show_the_marker(app, stored, admin):
    with app.app_context():  # a letter through the locked account, with a log entry
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = LOCKED, "client@example.org", "Тест"
        message.set_content("Текст")
        letter_id = send_mail(message)
        db.session.add(SendLog(outbox_id=letter_id, attempt=1, status="deferred",
                               transport_type="account", transport_id=stored.ids.account,
                               error="Сервер временно недоступен."))
        db.session.commit()
    pages = {
        "/admin/smtp/accounts": True,
        f"/admin/smtp/accounts/{stored.ids.account}": True,
        "/admin/smtp/accounts/count": False,
        "/admin/smtp/logs": True,  # the letter names its account's state
        f"/admin/smtp/logs/{letter_id}": True,
        "/admin/smtp/providers": True,
        f"/admin/smtp/providers/{stored.ids.provider}": True,
        "/admin/smtp/settings": False,
    }
    for url, marked in pages.items():
        response = admin.get(url)
        html = response.get_data(as_text=True)
        assert response.status_code == 200, url
        assert (UNREADABLE_LABEL in html) is marked, url
        assert_no_secret(html, stored)


def test_user_pages_answer_and_show_the_marker(app, stored, ivanov):
    pages = {
        "/mail/": True,
        f"/mail/{stored.ids.mailbox}/smtp": True,
        f"/mail/{stored.ids.mailbox}/delete": False,
        "/crm/": False,
        f"/crm/{stored.ids.deal}": True,
        "/crm/senders/new": False,
    }
    for url, marked in pages.items():
        response = ivanov.get(url)
        html = response.get_data(as_text=True)
        assert response.status_code == 200, url
        assert (UNREADABLE_LABEL in html) is marked, url
        assert_no_secret(html, stored)


def test_checks_with_an_unreadable_password_say_why_and_save_nothing(app, stored, admin, ivanov):
    token = csrf_token(admin, "/admin/smtp/accounts")
    grouped = admin.post("/admin/smtp/accounts/group", headers={"HX-Request": "true"}, data={
        "csrf_token": token, "action": "check", "ids": str(stored.ids.account)})
    assert grouped.status_code == 200
    assert "ключ шифрования не подходит" in grouped.get_data(as_text=True)
    saved = admin.post(f"/admin/smtp/accounts/{stored.ids.account}", data={
        "csrf_token": token, "active": "y", "sender_name": "Новое имя", "email": LOCKED,
        "host": "127.0.0.1", "port": "25", "security": "none", "auth": "login",
        "login": LOCKED, "password": "", "verify_tls": "y", "timeout": "5", "action": "save"})
    assert saved.status_code == 422
    assert "ключ шифрования не подходит" in saved.get_data(as_text=True)
    mail_token = csrf_token(ivanov, "/mail/")
    rechecked = ivanov.post(f"/mail/{stored.ids.mailbox}/smtp/recheck",
                            data={"csrf_token": mail_token}, headers={"HX-Request": "true"})
    assert rechecked.status_code == 200
    assert "ключ шифрования не подходит" in rechecked.get_data(as_text=True)
    modal = ivanov.post(f"/mail/{stored.ids.mailbox}/smtp", data={
        "csrf_token": mail_token, "enabled": "y", "host": "smtp.corp.example", "port": "587",
        "secure": "y", "auth_mode": "custom", "login": "anna@corp.example", "password": ""})
    assert modal.status_code == 422
    assert "ключ шифрования не подходит" in modal.get_data(as_text=True)
    for response in (grouped, saved, rechecked, modal):
        assert_no_secret(response.get_data(as_text=True), stored)
    assert raw_tokens(app) == stored.tokens
    with app.app_context():
        assert db.session.get(SmtpAccount, stored.ids.account).sender_name == "Старый аккаунт"


def test_provider_saved_with_a_blank_secret_keeps_the_stored_token(app, stored, admin):
    url = f"/admin/smtp/providers/{stored.ids.provider}"
    response = admin.post(url, data={
        "csrf_token": csrf_token(admin, url), "name": "Переименованный сервис", "active": "y",
        "imap_host": "imap.example.com", "imap_port": "993", "imap_security": "ssl",
        "smtp_host": "smtp.example.com", "smtp_port": "465", "smtp_security": "ssl",
        "login_format": "email", "auth_method": "oauth2", "oauth_client_id": "client-id",
        "oauth_client_secret": "", "domains": ""})
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(MailProvider, stored.ids.provider).name == "Переименованный сервис"
    assert raw_tokens(app) == stored.tokens


def test_retyped_password_repairs_an_account(app, stored, admin, smtp):
    USERS[LOCKED] = "Новый-пароль-6"
    try:
        url = f"/admin/smtp/accounts/{stored.ids.account}"
        response = admin.post(url, data={
            "csrf_token": csrf_token(admin, url), "active": "y", "sender_name": "Старый аккаунт",
            "email": LOCKED, "host": smtp.plain.host, "port": str(smtp.plain.port),
            "security": "none", "auth": "login", "login": LOCKED,
            "password": "Новый-пароль-6", "verify_tls": "y", "timeout": "5", "action": "save"})
    finally:
        USERS.pop(LOCKED, None)
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(SmtpAccount, stored.ids.account).password == "Новый-пароль-6"


# --- the command line -----------------------------------------------------------------------

def test_accounts_list_works_and_names_the_cause(app, stored, runner):
    with app.app_context():
        readable = make_account(LOGIN, "Продажи", password=USERS[LOGIN]).id
    text = runner.invoke(args=["smtp", "accounts", "list"])
    assert text.exit_code == 0, text.output
    assert WRONG_KEY_MESSAGE in text.stderr and WRONG_KEY_MESSAGE_EN in text.stderr
    [locked_line] = [line for line in text.stdout.splitlines() if LOCKED in line]
    assert UNREADABLE_LABEL in locked_line
    [readable_line] = [line for line in text.stdout.splitlines() if LOGIN in line]
    assert UNREADABLE_LABEL not in readable_line
    as_json = runner.invoke(args=["smtp", "accounts", "list", "--json"])
    assert as_json.exit_code == 0
    assert [row["id"] for row in json.loads(as_json.stdout)] == [stored.ids.account, readable]
    assert f"#{stored.ids.account}" in as_json.stderr
    assert_no_secret(text.output + as_json.output, stored)


def test_worker_sends_other_letters_and_defers_the_unreadable_ones(app, stored, runner, smtp):
    with app.app_context():
        make_account(LOGIN, "Продажи", host=smtp.plain.host, port=smtp.plain.port,
                     security="none", auth="login", password=USERS[LOGIN])
    ids = {}
    for sender in (LOCKED, LOGIN):
        queued = runner.invoke(args=["smtp", "send", "--from", sender, "--to",
                                     "client@example.org", "--subject", f"От {sender}",
                                     "--body", "Текст"])
        assert queued.exit_code == 0, queued.output
        ids[sender] = int(queued.stdout.strip())
    worked = runner.invoke(args=["smtp", "worker", "--once"])
    assert worked.exit_code == 0, worked.output
    assert "Обработано писем: 2." in worked.stdout
    assert [str(r.message["Subject"]) for r in smtp.plain.handler.received] == [f"От {LOGIN}"]
    with app.app_context():
        sent = db.session.get(OutboxMessage, ids[LOGIN])
        waiting = db.session.get(OutboxMessage, ids[LOCKED])
        assert sent.status == "sent"
        assert waiting.status == "deferred" and waiting.attempts == 1
        assert WRONG_KEY_MESSAGE in waiting.last_error
        [entry] = db.session.scalars(select(SendLog).where(SendLog.outbox_id == waiting.id))
        assert entry.status == "deferred" and WRONG_KEY_MESSAGE in entry.error
    logs = runner.invoke(args=["smtp", "logs", "--json"])
    assert_no_secret(worked.output + logs.output, stored)


def test_rotate_keys_with_the_wrong_key_fails_and_changes_nothing(app, stored, runner):
    result = runner.invoke(args=["smtp", "rotate-keys"])
    assert result.exit_code == 1
    assert WRONG_KEY_MESSAGE in result.output and WRONG_KEY_MESSAGE_EN in result.output
    assert "Не расшифровано секретов: 5; ничего не изменено." in result.output
    assert "Traceback" not in result.output
    assert raw_tokens(app) == stored.tokens
    assert_no_secret(result.output, stored)


def test_rotate_keys_with_the_old_key_listed_second_repairs_everything(
        app, app_config, stored, runner):
    fixed = create_app({**app_config, "SMTP_KEYS": f"{app_config['SMTP_KEYS']},{stored.old_key}"})
    result = fixed.test_cli_runner().invoke(args=["smtp", "rotate-keys"])
    dispose(fixed)
    assert result.exit_code == 0, result.output
    assert "Перешифровано секретов: 5." in result.output
    with app.app_context():
        assert db.session.get(SmtpAccount, stored.ids.account).password == SECRETS["account"]
        assert db.session.get(MailProvider, stored.ids.provider).oauth_client_secret == \
            SECRETS["oauth"]


# --- development ----------------------------------------------------------------------------

def test_development_start_after_rotate_keys_reads_the_rotated_secrets(app, app_config,
                                                                        tmp_path):
    development = {**app_config, "ENV": "development", "INSTANCE_PATH": str(tmp_path)}
    development.pop("SMTP_KEYS")
    first = create_app(development)  # generates the instance key
    with first.app_context():
        account_id = make_account(LOCKED, password=SECRETS["account"]).id
    dispose(first)
    generated = (tmp_path / "smtp-keys").read_text()
    new_key = Fernet.generate_key().decode()
    rotating = create_app({**development, "SMTP_KEYS": f"{new_key},{generated}"})
    result = rotating.test_cli_runner().invoke(args=["smtp", "rotate-keys"])
    dispose(rotating)
    assert result.exit_code == 0, result.output
    assert str(tmp_path / "smtp-keys") in result.output
    assert (tmp_path / "smtp-keys").read_text() == f"{new_key},{generated}"
    assert (tmp_path / "smtp-keys").stat().st_mode & 0o777 == 0o600
    token = raw_tokens(app)[f"portal_smtp_account.password#{account_id}"]
    assert Fernet(new_key.encode()).decrypt(token.encode()).decode() == SECRETS["account"]
    restarted = create_app(development)  # no PORTAL_SMTP_KEYS: the instance file only
    with restarted.app_context():
        assert db.session.get(SmtpAccount, account_id).password == SECRETS["account"]
    dispose(restarted)


def test_outside_development_rotate_keys_writes_no_key_file(app, app_config, tmp_path):
    config = {**app_config, "INSTANCE_PATH": str(tmp_path)}
    rotating = create_app(config)
    result = rotating.test_cli_runner().invoke(args=["smtp", "rotate-keys"])
    dispose(rotating)
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "smtp-keys").exists()


# --- in the browser -------------------------------------------------------------------------

@pytest.mark.browser
def test_administrator_sees_which_passwords_the_key_does_not_open(page, live_server, app,
                                                                   stored, users):
    browser_login(page, live_server, users.admin)
    page.goto(f"{live_server}/admin/smtp/accounts")
    row = page.get_by_role("row").filter(has_text=LOCKED)
    expect(row).to_contain_text(f"Пароль: {UNREADABLE_LABEL}")
    row.get_by_role("link", name=LOCKED).click()
    expect(page.get_by_label("Пароль")).to_have_attribute("placeholder", UNREADABLE_LABEL)
    expect(page.get_by_role("alert").first).to_contain_text("PORTAL_SMTP_KEYS")
    page.get_by_role("button", name="Проверить").click()
    expect(page.locator("#check-result")).to_contain_text("Пароль: Не удаётся расшифровать")
    screenshot(page, "wrong-key-account-form")
    html = page.content()
    assert_no_secret(html, stored)
    assert raw_tokens(app) == stored.tokens
