"""«Почта» in a real Chromium: connect a mailbox, the sending modal through all its states,
and deleting the mailbox. Screenshots of the modal states go to test-artifacts/."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from portal_smtp.extensions import db
from portal_smtp.models import Mailbox, MailboxSending

from .conftest import browser_login, screenshot
from .mail_fixtures import ADDRESS, PASSWORD
from .servers import USERS

pytestmark = pytest.mark.browser


def sendings(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(MailboxSending.id)))


def test_mailbox_and_its_sending_modal(page, live_server, users, provider, app):
    browser_login(page, live_server, users.ivanov)
    page.get_by_role("link", name="Почта", exact=True).click()
    page.get_by_role("link", name="Подключить ящик").click()
    page.get_by_label("Адрес почтового ящика").fill(ADDRESS)
    expect(page.get_by_text("Почтовый сервис определён: Тестовая почта.")).to_be_visible()
    expect(page.get_by_label("Почтовый сервис")).to_have_value(str(provider))
    page.get_by_label("Пароль").fill(PASSWORD)
    page.get_by_role("button", name="Подключить").click()
    expect(page.get_by_text(f"Ящик {ADDRESS} подключён.")).to_be_visible()

    # The modal: a wrong password is refused and nothing is saved.
    page.get_by_role("link", name="Настройка SMTP отправки").click()
    modal = page.locator("dialog#modal")
    expect(modal).to_be_visible()
    expect(modal).to_contain_text("Настройки для исходящих писем")
    modal.get_by_label("Отправлять через внешний SMTP").check()
    modal.get_by_label("Другие логин и пароль").check()
    modal.get_by_label("Логин", exact=True).fill(ADDRESS)
    modal.get_by_label("Пароль", exact=True).fill("неверный-пароль")
    modal.get_by_role("button", name="Проверить").click()
    expect(modal.locator("#sending-check")).to_contain_text("Неверный логин или пароль")
    screenshot(page, "mail-modal-wrong-password")
    assert sendings(app) == 0

    # Fixed: the mailbox's own IMAP credentials; «Сохранить» closes the modal.
    modal.get_by_label("Данные IMAP-ящика").check()
    modal.get_by_role("button", name="Проверить").click()
    expect(modal.locator("#sending-check")).to_contain_text("Данные доступа верны!")
    modal.get_by_role("button", name="Сохранить").click()
    expect(modal).to_be_hidden()
    expect(page.locator("#mailboxes")).to_contain_text("Через внешний SMTP")
    assert page.url.endswith("/mail/")  # no page reload happened
    assert sendings(app) == 1

    # Reopened: the last check, then the background check's verdict.
    page.get_by_role("link", name="Настройка SMTP отправки").click()
    expect(modal).to_contain_text(re.compile(r"Последняя проверка .* — Успешно"))
    expect(modal).to_contain_text("Отправка почты с текущими настройками работает корректно!")
    screenshot(page, "mail-modal-recheck-ok")
    modal.get_by_role("link", name="Закрыть", exact=True).last.click()
    expect(modal).to_be_hidden()

    # The password changes on the server: reopening shows the error.
    USERS[ADDRESS] = "пароль-сменили-на-сервере"
    page.get_by_role("link", name="Настройка SMTP отправки").click()
    expect(modal).to_contain_text("Неверный логин или пароль")
    screenshot(page, "mail-modal-recheck-failed")

    # «Отключить» asks first, then removes the settings.
    page.once("dialog", lambda dialog: dialog.accept())
    modal.get_by_role("button", name="Отключить").click()
    expect(modal).to_be_hidden()
    expect(page.locator("#mailboxes")).to_contain_text("Не настроена")
    assert sendings(app) == 0

    # Set up again, then delete the mailbox: its settings go with it.
    USERS[ADDRESS] = PASSWORD
    page.get_by_role("link", name="Настройка SMTP отправки").click()
    modal.get_by_label("Отправлять через внешний SMTP").check()
    modal.get_by_role("button", name="Сохранить").click()
    expect(modal).to_be_hidden()
    assert sendings(app) == 1
    page.get_by_role("link", name="Удалить").click()
    expect(modal).to_contain_text(f"Удалить ящик {ADDRESS}?")
    screenshot(page, "mail-delete-confirmation")
    modal.get_by_role("button", name="Да, удалить").click()
    expect(page.get_by_text(f"Ящик {ADDRESS} удалён вместе с настройками отправки.")
           ).to_be_visible()
    with app.app_context():
        assert db.session.scalar(select(func.count(Mailbox.id))) == 0
    assert sendings(app) == 0


def test_modal_works_without_javascript(browser, live_server, users, provider, app):
    context = browser.new_context(java_script_enabled=False, locale="ru-RU")
    page = context.new_page()
    try:
        browser_login(page, live_server, users.ivanov)
        with app.app_context():
            db.session.add(Mailbox(user_id=users.ivanov.id, email=ADDRESS,
                                   email_normalized=ADDRESS, provider_id=provider,
                                   imap_host="127.0.0.1", imap_port=993, imap_security="ssl",
                                   imap_login=ADDRESS, imap_password=PASSWORD))
            db.session.commit()
        page.goto(f"{live_server}/mail/")
        page.get_by_role("link", name="Настройка SMTP отправки").click()
        heading = page.get_by_role("heading", name=re.compile("Настройка SMTP отправки"))
        expect(heading).to_be_visible()
        page.get_by_label("Отправлять через внешний SMTP").check()
        page.get_by_role("button", name="Сохранить").click()
        expect(page.get_by_text("Отправка через внешний SMTP")).to_be_visible()
        assert sendings(app) == 1
    finally:
        context.close()


def test_login_fields_appear_only_for_other_credentials(page, live_server, users, provider,
                                                         app):
    with app.app_context():
        db.session.add(Mailbox(user_id=users.ivanov.id, email=ADDRESS, email_normalized=ADDRESS,
                               provider_id=provider, imap_host="127.0.0.1", imap_port=993,
                               imap_security="ssl", imap_login=ADDRESS, imap_password=PASSWORD))
        db.session.commit()
    browser_login(page, live_server, users.ivanov)
    page.goto(f"{live_server}/mail/")
    page.get_by_role("link", name="Настройка SMTP отправки").click()
    modal = page.locator("dialog#modal")
    expect(modal.get_by_label("Логин", exact=True)).to_be_hidden()
    modal.get_by_label("Другие логин и пароль").check()
    expect(modal.get_by_label("Логин", exact=True)).to_be_visible()
    expect(modal.get_by_label("Пароль", exact=True)).to_be_visible()
    modal.get_by_label("Без авторизации").check()
    expect(modal.get_by_label("Пароль", exact=True)).to_be_hidden()


def test_a_refused_save_stays_in_the_same_modal(page, live_server, users, app):
    with app.app_context():
        db.session.add(Mailbox(user_id=users.ivanov.id, email="ivanov@example.com",
                               email_normalized="ivanov@example.com", imap_host="127.0.0.1",
                               imap_port=143, imap_security="none",
                               imap_login="ivanov@example.com", imap_password="x"))
        db.session.commit()
    browser_login(page, live_server, users.ivanov)
    page.goto(f"{live_server}/mail/")
    page.get_by_role("link", name="Настройка SMTP отправки").click()
    modal = page.locator("dialog#modal")
    modal.get_by_label("Порт", exact=True).fill("99999")
    modal.get_by_role("button", name="Сохранить").click()
    expect(modal).to_contain_text("Укажите адрес SMTP-сервера.")
    expect(modal).not_to_contain_text("Действие не выполнено")
    expect(modal.locator(".modal-head")).to_have_count(1)
    modal.get_by_label("Адрес SMTP-сервера").fill("127.0.0.1")
    modal.get_by_role("button", name="Проверить").click()
    expect(modal.locator("#sending-check")).to_contain_text("Порт должен быть числом")
    assert page.url.endswith("/mail/")
