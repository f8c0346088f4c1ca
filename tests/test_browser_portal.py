"""The portal in a real Chromium: login, the navigation and the test mailbox."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from portal_smtp.devmail import start_catcher
from portal_smtp.smtp import NetworkPolicy, SmtpSettings, check

from .conftest import browser_login, screenshot
from .servers import free_port

pytestmark = pytest.mark.browser


def test_admin_logs_in_and_finds_the_smtp_menu(page, live_server, users):
    page.goto(f"{live_server}/")
    expect(page.get_by_role("heading", name="Вход в портал")).to_be_visible()
    page.get_by_label("Логин").fill("admin")
    page.get_by_label("Пароль").fill("wrong")
    page.get_by_role("button", name="Войти").click()
    expect(page.get_by_text("Неверный логин или пароль.")).to_be_visible()
    browser_login(page, live_server, users.admin)
    expect(page.get_by_role("heading", name="Здравствуйте, Admin!")).to_be_visible()
    page.get_by_text("Сервисы", exact=True).click()
    expect(page.locator(".menu-title")).to_have_text(["Портал", "Отправка почты через SMTP"])
    expect(page.get_by_role("link", name="Пользователи", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="SMTP-аккаунты", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Настройки", exact=True)).to_be_visible()
    screenshot(page, "portal-home-admin")
    page.get_by_role("button", name="Выйти").click()
    expect(page.get_by_text("Вы вышли из портала.")).to_be_visible()


def test_test_mailbox_refreshes_over_htmx(page, live_server, users, app):
    browser_login(page, live_server, users.admin)  # administrators only (issue #10)
    page.get_by_role("link", name="Тестовый почтовый ящик").first.click()
    expect(page.get_by_text("Писем пока нет.")).to_be_visible()
    port = free_port()
    catcher = start_catcher("127.0.0.1", port, app.config["SMTP_DEVMAIL_DIR"])
    try:
        settings = SmtpSettings(host="127.0.0.1", port=port, security="none", auth="none")
        policy = NetworkPolicy.from_entries(allow=["127.0.0.1"], extra_ports=[port])
        assert check(settings, sender="ivanov@example.com", send_test_letter=True,
                     policy=policy).ok
    finally:
        catcher.stop()
    url_before = page.url
    page.get_by_role("button", name="Обновить").click()
    expect(page.get_by_text("Проверка отправки почты", exact=True)).to_be_visible()
    assert page.url == url_before
    screenshot(page, "test-mailbox")
