"""The CRM composer in a real Chromium: a sender through «SMTP-сервера», a letter with a copy
to self, a sender confirmed by the code from the letter, and what another user sees."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from portal_smtp.extensions import db
from portal_smtp.models import CrmSender
from portal_smtp.portal.models import CrmEntity
from portal_smtp.worker import run_workers

from .conftest import browser_login, screenshot
from .factories import make_account
from .servers import USERS

pytestmark = pytest.mark.browser
LOGIN = "user@example.com"


@pytest.fixture
def app_config(app_config):
    app_config.update(SMTP_SYSTEM_FROM="Портал <noreply@example.com>")
    return app_config


def test_deal_sender_letter_and_code(page, live_server, users, app, smtp, browser):
    with app.app_context():
        make_account("noreply@example.com", "Портал", host="127.0.0.1", port=smtp.plain.port,
                     security="none", auth="none", login="")
        deal = CrmEntity(kind="deal", title="Поставка оборудования", email="client@example.org",
                         owner_id=users.ivanov.id)
        db.session.add(deal)
        db.session.commit()
        deal_id = deal.id
    browser_login(page, live_server, users.ivanov)
    page.goto(f"{live_server}/crm/{deal_id}")

    # «SMTP-сервера»: a wrong password is refused, nothing saved; then corrected.
    page.get_by_role("link", name="Добавить отправителя").click()
    page.get_by_label("Имя", exact=True).fill("Отдел продаж")
    page.get_by_label("Email", exact=True).fill(LOGIN)
    page.get_by_role("link", name="SMTP-сервера").click()
    page.get_by_label("Сервер", exact=True).fill("127.0.0.1")
    page.get_by_label("Порт", exact=True).fill(str(smtp.starttls.port))
    page.get_by_label("Логин", exact=True).fill(LOGIN)
    page.get_by_label("Пароль", exact=True).fill("неверный-пароль")
    page.get_by_role("button", name="Сохранить").click()
    expect(page.locator(".check-result")).to_contain_text("Неверный логин или пароль")
    screenshot(page, "crm-sender-wrong-password")
    with app.app_context():
        assert db.session.query(CrmSender).count() == 0
    page.get_by_label("Пароль", exact=True).fill(USERS[LOGIN])
    page.get_by_role("button", name="Сохранить").click()
    expect(page.get_by_text("Отправитель с собственным SMTP-сервером добавлен.")).to_be_visible()

    # A letter with a copy to self.
    with app.app_context():
        sender_id = db.session.query(CrmSender.id).scalar()
    page.get_by_label("От кого").select_option(f"sender:{sender_id}")
    expect(page.locator("#to-0")).to_have_value("client@example.org")
    page.get_by_label("Тема").fill("Коммерческое предложение")
    page.get_by_label("Текст письма").fill("<p>Здравствуйте! Предложение во вложении.</p>")
    page.get_by_label("Отправить мне копию").check()
    page.get_by_role("button", name="Отправить").click()
    expect(page.get_by_text("Письмо поставлено в очередь на отправку.")).to_be_visible()
    run_workers(app, once=True)
    [received] = smtp.starttls.handler.received
    assert sorted(received.rcpt_tos) == ["client@example.org", "ivanov@example.com"]
    page.reload()
    expect(page.locator(".timeline")).to_contain_text("Письмо: Коммерческое предложение")
    expect(page.locator(".timeline")).to_contain_text("Отправлено")
    screenshot(page, "crm-timeline-sent")

    # A sender confirmed by the code from the letter, shared with everyone.
    page.get_by_role("link", name="Добавить отправителя").click()
    page.get_by_label("Имя", exact=True).fill("Общий ящик отдела")
    page.get_by_label("Email", exact=True).fill("team@example.com")
    page.get_by_label("Доступен всем").check()
    page.get_by_role("button", name="Получить код").click()
    expect(page.get_by_label("Введите код из письма")).to_be_visible()
    run_workers(app, once=True)
    code_letter = smtp.plain.handler.received[-1]
    code = re.search(r"\b(\d{6})\b", code_letter.message.get_body().get_content()).group(1)
    page.get_by_label("Введите код из письма").fill(code)
    page.get_by_role("button", name="Подтвердить").click()
    expect(page.get_by_text("Отправитель подтверждён и добавлен.")).to_be_visible()

    # Another user sees the shared sender, not the private one, and cannot delete it.
    other = browser.new_context(locale="ru-RU")
    petrova = other.new_page()
    try:
        browser_login(petrova, live_server, users.petrova)
        petrova.goto(f"{live_server}/crm/{deal_id}")
        senders = petrova.locator(".senders")
        expect(senders).to_contain_text("team@example.com")
        expect(senders).not_to_contain_text(LOGIN)
        expect(senders.get_by_role("button", name="Удалить")).to_have_count(0)
        screenshot(petrova, "crm-second-user")
    finally:
        other.close()
