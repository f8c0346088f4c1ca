"""«Лимиты отправки» in a real Chromium: the account form (a bad value refused in Russian, the
use of the windows and the provider's default beside the fields) and the mailbox modal."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from portal_smtp.extensions import db
from portal_smtp.models import Mailbox, MailboxSending, SmtpAccount
from portal_smtp.services import limits
from portal_smtp.services.limits import Limits
from portal_smtp.services.providers import ProviderInput, save_provider
from portal_smtp.timeutil import utcnow

from .conftest import browser_login, screenshot
from .factories import make_account
from .servers import USERS

pytestmark = pytest.mark.browser
LOGIN = "user@example.com"
NBSP = "\u00a0"


def test_account_limits_in_the_form(page, live_server, users, smtp, app):
    with app.app_context():
        save_provider(None, ProviderInput(
            name="Пример", imap_host="imap.example.com", imap_port=993, imap_security="ssl",
            smtp_host="smtp.example.com", smtp_port=465, smtp_security="ssl",
            domains=["example.com"], limits={"limit_day": 500, "limit_letter": 35}))
        account = make_account(LOGIN, "Рассылка 34web", host="127.0.0.1",
                               port=smtp.starttls.port, security="starttls",
                               password=USERS[LOGIN])
        account_id = account.id
        now = utcnow()
        for recipients, ago in ((12, timedelta(seconds=30)), (328, timedelta(minutes=20)),
                                (860, timedelta(hours=6))):
            limits.reserve(db.session.connection(), "account", account_id, [recipients],
                           Limits(day=10**6), now - ago)
        db.session.commit()
    browser_login(page, live_server, users.admin)
    page.goto(f"{live_server}/admin/smtp/accounts/{account_id}")
    limits_box = page.locator("fieldset#limits")
    expect(limits_box).to_contain_text(
        f"Использовано: 12 за минуту, 340 за час, 1{NBSP}200 за сутки")
    expect(page.get_by_label("Получателей в сутки")).to_have_attribute(
        "placeholder", "по умолчанию: 500")

    page.get_by_label("Получателей в минуту").fill("0")
    page.get_by_role("button", name="Применить").click()
    expect(limits_box).to_contain_text("Лимит — целое число от 1 до 1 000 000")
    expect(page.get_by_label("Получателей в минуту")).to_have_value("0")

    page.get_by_label("Получателей в минуту").fill("60")
    page.get_by_label("Получателей в час").fill("1 000")
    page.get_by_role("button", name="Применить").click()
    expect(page.get_by_role("status").first).to_contain_text("сохранён")
    expect(page.get_by_label("Получателей в час")).to_have_value("1000")
    with app.app_context():
        saved = db.session.get(SmtpAccount, account_id)
        assert (saved.limit_minute, saved.limit_hour, saved.limit_day) == (60, 1000, None)
    limits_box.scroll_into_view_if_needed()
    screenshot(page, "limits-account-form")

    page.goto(f"{live_server}/admin/smtp/accounts")
    expect(page.locator("#accounts-table")).to_contain_text(f"60/мин · 1{NBSP}000/час")


def test_mailbox_modal_limits(page, live_server, users, mailbox, smtp, app):
    with app.app_context():
        db.session.get(Mailbox, mailbox).address_proof = "code"
        account = make_account("anna@corp.example", commit=False)
        account.limit_day = 300
        db.session.commit()
    browser_login(page, live_server, users.ivanov)
    page.goto(f"{live_server}/mail/")
    page.get_by_role("link", name="Настройка SMTP отправки").click()
    modal = page.locator("dialog#modal")
    expect(modal.locator("#limits-instead")).to_contain_text(
        "уходят через SMTP-аккаунт портала, и действуют его лимиты: 300 в сутки")
    modal.get_by_label("Получателей в минуту").fill("abc")
    modal.get_by_role("button", name="Проверить").click()
    expect(modal.locator("#sending-check")).to_contain_text(
        "Получателей в минуту: Введите целое число.")
    modal.get_by_label("Получателей в минуту").fill("20")
    modal.get_by_label("Получателей в одном письме").fill("5")
    screenshot(page, "limits-mail-modal")
    modal.get_by_role("button", name="Сохранить").click()
    expect(modal).to_be_hidden()
    expect(page.locator("#mailboxes")).to_contain_text("Через внешний SMTP")
    with app.app_context():
        sending = db.session.query(MailboxSending).one()
        assert (sending.limit_minute, sending.limit_letter) == (20, 5)
    page.get_by_role("link", name="Настройка SMTP отправки").click()
    expect(modal.locator("#limits-usage")).to_have_text(
        re.compile(r"Использовано: 0 за минуту, 0 за час, 0 за сутки"))
    expect(modal.locator("#limits-instead")).to_have_count(0)
