"""«Логи отправки писем»: filters in the URL, the detail view with headers, «Повторить»."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from portal_smtp import send_mail
from portal_smtp.extensions import db
from portal_smtp.models import OutboxMessage
from portal_smtp.worker import run_workers

from .conftest import browser_login, csrf_token, login
from .factories import make_account
from .test_outbox import letter


@pytest.fixture
def app_config(app_config):
    app_config.update(SMTP_RETRY_BASE_SECONDS=0, SMTP_RETRY_MAX_SECONDS=0)
    return app_config


@pytest.fixture
def letters(app, smtp):
    """One letter sent, one failed (550), one without an account."""
    with app.app_context():
        make_account("sales@example.com", "Продажи", host="127.0.0.1", port=smtp.plain.port,
                     security="none", auth="none", login="")
        make_account("news@example.com", "Новости", host="127.0.0.1",
                     port=smtp.rejecting.port, security="none", auth="none", login="")
        ids = {
            "sent": send_mail(letter(sender="sales@example.com", to="anna@client.example",
                                     subject="Договор")),
            "rejected": send_mail(letter(sender="news@example.com", to="boris@client.example",
                                         subject="Новости недели")),
            "orphan": send_mail(letter(sender="nobody@example.com", to="anna@client.example",
                                       subject="Без аккаунта")),
        }
    run_workers(app, once=True)
    return ids


def ids_on(page: str) -> set[int]:
    return {int(i) for i in re.findall(r"/admin/smtp/logs/(\d+)\?", page)}


def test_log_lists_letters_and_filters_them(client, users, letters):
    login(client, users.admin)
    page = client.get("/admin/smtp/logs").get_data(as_text=True)
    assert ids_on(page) == set(letters.values())
    assert "Отправлено" in page and "Ошибка" in page and "550 5.7.1" in page
    failed = client.get("/admin/smtp/logs?status=failed", headers={"HX-Request": "true"})
    fragment = failed.get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="logs-table">')
    assert ids_on(fragment) == {letters["rejected"], letters["orphan"]}
    by_address = client.get("/admin/smtp/logs?address=anna@").get_data(as_text=True)
    assert ids_on(by_address) == {letters["sent"], letters["orphan"]}
    by_account = client.get("/admin/smtp/logs?account=news@").get_data(as_text=True)
    assert ids_on(by_account) == {letters["rejected"]}
    future = client.get("/admin/smtp/logs?date_from=2999-01-01").get_data(as_text=True)
    assert "Ничего не найдено" in future
    bad = client.get("/admin/smtp/logs?date_to=31.12.2026").get_data(as_text=True)
    assert "некорректная дата" in bad and ids_on(bad) == set(letters.values())
    assert client.get("/admin/smtp/logs/count?status=failed").get_data(
        as_text=True).strip() == "ВСЕГО: 2"


def test_detail_shows_headers_and_attempts(client, users, letters):
    login(client, users.admin)
    page = client.get(f"/admin/smtp/logs/{letters['rejected']}").get_data(as_text=True)
    assert "Новости недели" in page and "Message-ID" in page
    assert "550 5.7.1 Message rejected as spam" in page
    assert "Новости &lt;news@example.com&gt;" in page
    assert "Повторить" in page


def test_retry_queues_a_failed_letter_again(app, client, users, letters):
    login(client, users.admin)
    url = f"/admin/smtp/logs/{letters['rejected']}"
    token = csrf_token(client, url)
    response = client.post(f"{url}/retry", data={"csrf_token": token})
    assert response.status_code == 302
    assert "Письмо снова поставлено в очередь." in client.get(url).get_data(as_text=True)
    with app.app_context():
        assert db.session.get(OutboxMessage, letters["rejected"]).status == "queued"
    again = client.post(f"/admin/smtp/logs/{letters['sent']}/retry", data={"csrf_token": token})
    assert "Повторить можно только письмо с ошибкой." in client.get(
        again.headers["Location"]).get_data(as_text=True)


@pytest.mark.parametrize("url", ["/admin/smtp/logs", "/admin/smtp/logs/1"])
def test_logs_are_for_administrators_only(client, users, url):
    login(client, users.ivanov)
    assert client.get(url).status_code == 403


@pytest.mark.browser
def test_administrator_filters_the_log_and_retries(page, live_server, users, letters, smtp):
    browser_login(page, live_server, users.admin)
    page.goto(f"{live_server}/admin/smtp/logs")
    page.get_by_label("Статус").select_option("failed")
    expect(page.locator("#logs-table tbody tr")).to_have_count(2)
    expect(page).to_have_url(re.compile(r"status=failed"))
    page.get_by_role("link", name=str(letters["orphan"]), exact=True).click()
    expect(page.get_by_text("Не найден SMTP-аккаунт для отправителя").first).to_be_visible()
    page.get_by_role("button", name="Повторить").click()
    expect(page.get_by_role("status").first).to_contain_text("Не найден SMTP-аккаунт")
    page.locator(".crumbs a").click()
    expect(page).to_have_url(re.compile(r"status=failed"))
