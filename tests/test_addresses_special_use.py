"""SPEC §15: addresses in special-use and intranet domains (``corp.local``, ``example.test``,
a dotless ``intranet``) are valid everywhere an address is typed or used — the product relays
through servers an administrator chose; what is not an address is refused with the reason."""
from __future__ import annotations

import re
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from portal_smtp import send_mail
from portal_smtp.extensions import db
from portal_smtp.models import OutboxMessage, SmtpAccount
from portal_smtp.services.outbox import SendRefused
from portal_smtp.services.resolver import resolve
from portal_smtp.smtp.addresses import (
    AddressError,
    normalize_address,
    parse_from_header,
    validate_address,
    wire_address,
)
from portal_smtp.worker import run_workers

from .conftest import csrf_token, login
from .factories import make_account
from .servers import USERS

LOGIN = "user@example.com"


@pytest.fixture
def app_config(app_config):
    app_config.update(SMTP_RETRY_BASE_SECONDS=0, SMTP_RETRY_MAX_SECONDS=0,
                      SMTP_WORKER_IDLE_SECONDS=0.05)
    return app_config


@pytest.mark.parametrize(("address", "wire"), [
    ("user@corp.local", "user@corp.local"),
    ("noreply@company.local", "noreply@company.local"),
    ("user@example.test", "user@example.test"),
    ("user@intranet", "user@intranet"),
    ("root@localhost", "root@localhost"),
    ("printer@home.arpa", "printer@home.arpa"),
    ("Noreply@Company.LOCAL", "Noreply@company.local"),
    ("user@почта.local", "user@xn--80a1acny.local"),
    ("user@[192.0.2.1]", "user@[192.0.2.1]"),
])
def test_special_use_and_intranet_addresses_are_valid(address, wire):
    assert wire_address(address) == wire
    assert normalize_address(address) == wire.lower().replace("xn--80a1acny", "почта")


@pytest.mark.parametrize(("address", "reason"), [
    ("noreply", "нет знака @"),
    ("@corp.local", "нет имени до знака @"),
    ("user@", "нет домена после знака @"),
    ("user@corp..local", "две точки подряд"),
    ("us er@corp.local", "недопустимые символы до знака @"),
    ("user@corp_1.local", "недопустимые символы в домене"),
    ("user@-corp.local", "дефис в начале или в конце части домена"),
    ("user@192.0.2.1", "IP-адрес после знака @ пишется в квадратных скобках"),
    ("user@site.invalid", "домен зарезервирован и не принимает почту"),
    ("user@hidden.onion", "домен зарезервирован и не принимает почту"),
    (f"user@{'x' * 64}.local", "часть домена между точками длиннее 63 символов"),
    ("Иван <user@corp.local>", "без имени и угловых скобок"),
])
def test_what_is_not_an_address_is_refused_with_the_reason(address, reason):
    with pytest.raises(AddressError) as refused:
        validate_address(address)
    message = str(refused.value)
    assert message.startswith("Некорректный адрес e-mail")
    assert reason in message
    assert not re.search(r"[A-Za-z]{2,} [a-z]{2,}", message.replace(address, ""))


def test_intranet_sender_resolves_to_its_account(app):
    with app.app_context():
        account = make_account("noreply@company.local", "Портал")
        mailbox = parse_from_header("Портал <Noreply@Company.local>")
        assert mailbox is not None and mailbox.normalized == "noreply@company.local"
        assert resolve("Портал <noreply@company.local>").id == account.id


def test_admin_form_says_why_an_address_is_refused(app, client, users, smtp):
    login(client, users.admin)
    token = csrf_token(client, "/admin/smtp/accounts/new")
    page = client.post("/admin/smtp/accounts/new", data={
        "csrf_token": token, "active": "y", "sender_name": "Портал", "email": "noreply",
        "host": smtp.plain.host, "port": str(smtp.plain.port), "security": "none",
        "auth": "login", "login": LOGIN, "password": USERS[LOGIN], "verify_tls": "y",
        "timeout": "5", "action": "save"}).get_data(as_text=True)
    assert "Некорректный адрес e-mail: noreply — нет знака @." in page
    with app.app_context():
        assert db.session.scalar(select(SmtpAccount)) is None


def letter(sender: str, *recipients: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = "Проверка внутренней почты"
    message.set_content("Письмо во внутреннюю сеть.")
    return message


def test_example_test_account_from_the_form_sends_end_to_end(app, client, users, smtp):
    """An admin configures ``noreply@example.test`` in the UI against a real server; a letter
    from it to intranet addresses is queued by ``send_mail`` and delivered by the worker."""
    login(client, users.admin)
    token = csrf_token(client, "/admin/smtp/accounts/new")
    response = client.post("/admin/smtp/accounts/new", data={
        "csrf_token": token, "active": "y", "sender_name": "Портал",
        "email": "noreply@example.test", "host": smtp.plain.host, "port": str(smtp.plain.port),
        "security": "none", "auth": "login", "login": LOGIN, "password": USERS[LOGIN],
        "verify_tls": "y", "timeout": "5", "action": "save"})
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        account = db.session.scalar(select(SmtpAccount))
        assert account.email_normalized == "noreply@example.test" and account.last_check_ok
        letter_id = send_mail(letter("noreply@example.test", "boss@corp.local",
                                     "it@intranet", "qa@example.test"))
    assert run_workers(app, once=True) == 1
    [received] = smtp.plain.handler.received
    assert received.mail_from == "noreply@example.test"
    assert received.rcpt_tos == ["boss@corp.local", "it@intranet", "qa@example.test"]
    assert received.login == LOGIN
    assert received.message["From"].addresses[0].display_name == "Портал"
    with app.app_context():
        assert db.session.get(OutboxMessage, letter_id).status == "sent"


def test_company_local_account_from_the_cli_sends_end_to_end(app, runner, smtp):
    added = runner.invoke(args=[
        "smtp", "accounts", "add", "--name", "Портал", "--email", "noreply@company.local",
        "--host", smtp.ssl.host, "--port", str(smtp.ssl.port), "--security", "ssl",
        "--auth", "login", "--login", LOGIN, "--password-stdin"], input=f"{USERS[LOGIN]}\n")
    assert added.exit_code == 0, added.output
    sent = runner.invoke(args=["smtp", "send", "--from", "noreply@company.local", "--to",
                               "user@intranet", "--subject", "Привет", "--body", "текст"])
    assert sent.exit_code == 0, sent.output
    assert run_workers(app, once=True) == 1
    [received] = smtp.ssl.handler.received
    assert (received.mail_from, received.rcpt_tos) == ("noreply@company.local",
                                                       ["user@intranet"])


@pytest.mark.parametrize(("to", "reason"), [
    ("boss@corp..local", "две точки подряд"),
    ("Начальник <boss>", "нет знака @"),
    ("boss@corp.local)<spy@evil.example>", "проверьте угловые скобки"),
])
def test_send_mail_says_why_a_recipient_is_refused(app, to, reason):
    with app.app_context(), pytest.raises(SendRefused) as refused:
        send_mail(letter(LOGIN, to))
    assert "Некорректный адрес" in str(refused.value) and reason in str(refused.value)
