"""«SMTP-аккаунты» in a real Chromium, as an administrator works with them."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from portal_smtp.extensions import db
from portal_smtp.models import SmtpAccount

from .conftest import browser_login, screenshot
from .factories import make_account
from .servers import USERS

pytestmark = pytest.mark.browser
LOGIN = "user@example.com"


def test_add_account_with_wrong_password_then_fix_it(page, live_server, users, smtp, app):
    browser_login(page, live_server, users.admin)
    page.goto(f"{live_server}/admin/smtp/accounts")
    page.get_by_role("link", name="Добавить SMTP-аккаунт").click()
    page.get_by_label("Имя отправителя").fill("Рассылка 34web")
    page.get_by_label("Email отправителя").fill(LOGIN)
    page.get_by_label("Адрес почтового сервера").fill("127.0.0.1")
    page.get_by_label("Защита соединения").select_option("starttls")
    expect(page.get_by_label("Порт почтового сервера")).to_have_value("587")
    page.get_by_label("Порт почтового сервера").fill(str(smtp.starttls.port))
    page.get_by_label("Логин").fill(LOGIN)
    page.get_by_label("Пароль").fill("неверный-пароль")

    page.get_by_role("button", name="Проверить").click()
    expect(page.locator("#check-result")).to_contain_text("Неверный логин или пароль")
    screenshot(page, "account-check-wrong-password")

    page.get_by_role("button", name="Сохранить", exact=True).click()
    expect(page.locator(".check-result")).to_contain_text("Неверный логин или пароль")
    expect(page.get_by_label("Имя отправителя")).to_have_value("Рассылка 34web")
    expect(page.get_by_label("Порт почтового сервера")).to_have_value(str(smtp.starttls.port))
    expect(page.get_by_label("Пароль")).to_have_value("")
    with app.app_context():
        assert db.session.query(SmtpAccount).count() == 0

    page.get_by_label("Пароль").fill(USERS[LOGIN])
    page.get_by_role("button", name="Проверить").click()
    expect(page.locator("#check-result")).to_contain_text("Данные доступа верны!")
    page.get_by_role("button", name="Сохранить", exact=True).click()
    expect(page).to_have_url(re.compile(r"/admin/smtp/accounts$"))
    expect(page.get_by_role("status").first).to_contain_text("сохранён")
    expect(page.locator("#accounts-table")).to_contain_text("Успешно")
    screenshot(page, "accounts-list-after-save")


def test_filter_group_deactivate_and_confirmed_delete(page, live_server, users, app):
    with app.app_context():
        for n in range(6):
            make_account(f"team{n}@{'alpha' if n < 4 else 'beta'}.example", f"Команда {n}",
                         commit=False)
        db.session.commit()
    browser_login(page, live_server, users.admin)
    page.goto(f"{live_server}/admin/smtp/accounts")
    page.get_by_label("Email").fill("alpha")
    expect(page.locator("tbody tr")).to_have_count(4)
    expect(page).to_have_url(re.compile(r"email=alpha"))
    page.reload()
    expect(page.locator("tbody tr")).to_have_count(4)  # the state lives in the URL

    page.get_by_label("Отметить аккаунт", exact=False).nth(0).check()
    page.get_by_label("Отметить аккаунт", exact=False).nth(1).check()
    expect(page.locator("[data-checked-count]")).to_have_text("2")
    page.get_by_role("button", name="Деактивировать").click()
    expect(page.locator("#accounts-table")).to_contain_text("Деактивировано аккаунтов: 2.")
    expect(page.locator("tbody tr.inactive")).to_have_count(2)
    expect(page).to_have_url(re.compile(r"email=alpha"))

    page.get_by_label("Отметить аккаунт", exact=False).nth(0).check()
    page.get_by_role("button", name="Удалить").click()
    dialog = page.locator("dialog#modal")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Удалить 1 SMTP-аккаунт?")
    screenshot(page, "accounts-delete-confirmation")
    dialog.get_by_role("button", name="Да, удалить").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#accounts-table")).to_contain_text("Удалено аккаунтов: 1.")
    expect(page.locator("tbody tr")).to_have_count(3)
    with app.app_context():
        assert db.session.query(SmtpAccount).count() == 5

    page.get_by_role("link", name="ПОКАЗАТЬ КОЛИЧЕСТВО").click()
    expect(page.locator("#accounts-total")).to_have_text("ВСЕГО: 3")


def test_user_gets_403_on_admin_pages(page, live_server, users):
    browser_login(page, live_server, users.petrova)
    response = page.goto(f"{live_server}/admin/smtp/accounts")
    assert response.status == 403
    expect(page.get_by_role("heading", name="Доступ запрещён")).to_be_visible()


def test_sort_and_page_size_survive_filtering_and_back(page, live_server, users, app):
    with app.app_context():
        for n in range(12):
            make_account(f"{'zeta' if n % 2 else 'alpha'}{n:02d}@corp.example", f"Имя {n}",
                         commit=False)
        db.session.commit()
    browser_login(page, live_server, users.admin)
    page.goto(f"{live_server}/admin/smtp/accounts")
    page.get_by_role("link", name="Email").click()
    expect(page).to_have_url(re.compile(r"sort=email"))
    # The pager is part of the table the sort swapped in: change it only once the swap is
    # over, or the change lands on the outgoing element and sends nothing.
    expect(page.locator(".htmx-request, .htmx-swapping, .htmx-settling")).to_have_count(0)
    page.get_by_label("На странице:").select_option("10")
    expect(page).to_have_url(re.compile(r"size=10"))
    page.get_by_label("Поиск").fill("corp")
    expect(page).to_have_url(re.compile(r"q=corp"))
    assert "sort=email" in page.url and "size=10" in page.url
    assert "active=&" not in page.url  # empty filters stay out of the URL
    expect(page.locator("tbody tr")).to_have_count(10)
    first = page.locator("tbody tr").first
    expect(first).to_contain_text("alpha00@corp.example")

    page.get_by_label("Активность").select_option("N")
    expect(page.locator("tbody tr")).to_have_count(1)
    page.go_back()
    expect(page.get_by_label("Поиск")).to_have_value("corp")
    expect(page.get_by_label("Активность")).to_have_value("")
    expect(page.locator("tbody tr")).to_have_count(10)
