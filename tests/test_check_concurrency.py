"""Checks under load (SPEC §10, issue #10 item 4): a check waiting on a server that never
answers holds no database connection, only a bounded number run at once (the rest get 429
at once, in place, with a Russian message), and checks are rate-limited per user and per IP
on every page that runs one."""
from __future__ import annotations

import http.client
import threading
from datetime import datetime
from urllib.parse import urlencode, urlsplit

import pytest
from sqlalchemy import func, select, update

from portal_smtp.extensions import db
from portal_smtp.models import (
    CrmSender,
    Mailbox,
    MailboxSending,
    SmtpAccount,
)
from portal_smtp.portal.models import CrmEntity

from .conftest import CSRF_FIELD, PASSWORDS, csrf_token, login
from .factories import make_account
from .servers import HoldingServer

BUSY = "Сейчас выполняется слишком много проверок"
RATE = "Слишком много проверок подряд"
SLOTS = 2


@pytest.fixture(scope="module")
def holding():
    server = HoldingServer()
    yield server
    server.stop()


@pytest.fixture
def app_config(app_config, holding, smtp):
    """Two check slots, a pool of as many connections (two held ones would starve every
    other request), generous limits unless a test sets its own, the holding server allowed."""
    app_config.update(
        SMTP_MAX_CONCURRENT_CHECKS=SLOTS,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_size": SLOTS, "max_overflow": 0, "pool_timeout": 10},
        SMTP_CHECK_RATE_LIMIT="1000/minute", SMTP_CHECK_RATE_LIMIT_IP="1000/minute",
        SMTP_ALLOW_PORTS=",".join(map(str, [*smtp.ports, holding.port])),
    )
    return app_config


@pytest.fixture(autouse=True)
def _let_go(holding):
    """Whatever a test leaves hanging on the holding server is let go after it."""
    yield
    holding.release()


@pytest.fixture
def no_free_slot(app):
    """Every check slot of the app taken, as by checks running elsewhere."""
    slots = app.extensions["portal_smtp"].check_slots
    for _ in range(SLOTS):
        assert slots.acquire(timeout=5)
    yield
    for _ in range(SLOTS):
        slots.release()


class Visitor:
    """A logged-in user talking to the live server over real HTTP from a chosen loopback
    address, keeping its cookies (the stdlib only: the venv has no HTTP client library)."""

    def __init__(self, base_url: str, account, source: str = "127.0.0.1") -> None:
        parts = urlsplit(base_url)
        self.host, self.port, self.source = parts.hostname, parts.port, source
        self.cookies: dict[str, str] = {}
        token = self.token("/login")
        status, _ = self.request("POST", "/login", {
            "username": account.username, "password": PASSWORDS[account.username],
            "csrf_token": token})
        assert status == 302

    def request(self, method: str, path: str, data: dict | None = None,
                headers: dict | None = None) -> tuple[int, str]:
        """Send one request; returns the status and the body."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60,
                                          source_address=(self.source, 0))
        sent = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
                **(headers or {})}
        body = None
        if data is not None:
            body = urlencode(data)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body, sent)
            response = conn.getresponse()
            for cookie in response.headers.get_all("Set-Cookie") or []:
                name, _, value = cookie.split(";", 1)[0].partition("=")
                self.cookies[name.strip()] = value
            return response.status, response.read().decode()
        finally:
            conn.close()

    def token(self, path: str) -> str:
        """The CSRF token of the page at ``path`` for this visitor's session."""
        _, page = self.request("GET", path)
        match = CSRF_FIELD.search(page)
        assert match, f"no CSRF token on {path}"
        return next(group for group in match.groups() if group)


def sender_form(token: str, port: int, email: str = "sales@corp.example") -> dict:
    """«Добавить отправителя» → «SMTP-сервера», without TLS or login."""
    return {"csrf_token": token, "action": "smtp", "name": "Отдел продаж", "email": email,
            "host": "127.0.0.1", "port": str(port), "login": "", "password": ""}


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(model.id)))


# --- a server that never answers ---------------------------------------------------------

def test_hanging_checks_hold_no_connection_and_the_rest_get_429(app, live_server, users,
                                                                 holding):
    with app.app_context():
        db.session.add(CrmEntity(kind="deal", title="Сделка Петровой", email="",
                                 owner_id=users.petrova.id))
        db.session.commit()
    ivanov = Visitor(live_server, users.ivanov)
    petrova = Visitor(live_server, users.petrova)
    token = ivanov.token("/crm/senders/new")
    statuses: list[int] = []
    bodies: list[str] = []
    finished = threading.Semaphore(0)

    def press_save(number: int) -> None:
        status, body = ivanov.request("POST", "/crm/senders/new",
                                      sender_form(token, holding.port, f"s{number}@corp.example"))
        statuses.append(status)
        bodies.append(body)
        finished.release()

    threads = [threading.Thread(target=press_save, args=(n,), daemon=True) for n in range(12)]
    for thread in threads:
        thread.start()
    # Two checks hang on the server; the other ten are refused without waiting for them.
    assert holding.wait_for(SLOTS)
    for _ in range(len(threads) - SLOTS):
        assert finished.acquire(timeout=60)
    assert sorted(statuses) == [429] * (len(threads) - SLOTS)
    assert all(BUSY in body and 'value="Отдел продаж"' in body for body in bodies)

    # While they hang, no connection is out of the pool, and other pages answer.
    with app.app_context():
        assert db.engine.pool.checkedout() == 0
    status, page = petrova.request("GET", "/crm/")
    assert status == 200 and "Сделка Петровой" in page
    status, page = ivanov.request("GET", "/crm/senders/new")
    assert status == 200

    holding.release()  # the server hangs up: the two checks fail, and save nothing
    for thread in threads:
        thread.join(60)
    assert sorted(statuses) == [422] * SLOTS + [429] * (len(threads) - SLOTS)
    assert count(app, CrmSender) == 0
    assert holding.accepted >= SLOTS


def test_group_check_takes_the_free_slots_and_records_every_result(app, client, users, smtp,
                                                                   holding):
    with app.app_context():
        ids = [make_account(f"a{n}@example.com", host="127.0.0.1", port=smtp.closed.port,
                            security="none", auth="none", login="").id for n in range(5)]
    login(client, users.admin)
    token = csrf_token(client, "/admin/smtp/accounts")
    response = client.post("/admin/smtp/accounts/group", headers={"HX-Request": "true"},
                           data={"csrf_token": token, "action": "check", "ids": ids})
    assert response.status_code == 200
    assert "Проверено аккаунтов: 5, успешно: 0, с ошибками: 5." in response.get_data(
        as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(SmtpAccount.id))
                                 .where(SmtpAccount.last_check_ok.is_(False))) == 5


# --- every page that runs a check --------------------------------------------------------

@pytest.fixture
def pages(app, users, holding):
    """Each page that runs a check: (who, path, form data, a marker of the user's input)."""
    with app.app_context():
        account = make_account("desk@example.com", host="127.0.0.1", port=holding.port,
                               security="none", auth="none", login="")
        box = Mailbox(user_id=users.ivanov.id, email="anna@corp.example",
                      email_normalized="anna@corp.example", imap_host="127.0.0.1",
                      imap_port=holding.port, imap_security="none",
                      imap_login="anna@corp.example", imap_password="пароль-ящика")
        db.session.add(box)
        db.session.flush()
        db.session.add(MailboxSending(mailbox_id=box.id, host="127.0.0.1", port=holding.port,
                                      security="none", auth_mode="none"))
        db.session.commit()
        account_id, box_id = account.id, box.id
    admin_form = {"active": "y", "sender_name": "Склад", "email": "store@example.com",
                  "host": "127.0.0.1", "port": str(holding.port), "security": "none",
                  "auth": "none", "timeout": "5", "action": "save"}
    modal = {"enabled": "y", "host": "127.0.0.1", "port": str(holding.port),
             "auth_mode": "none"}
    return {
        "admin save": ("admin", "/admin/smtp/accounts/new", admin_form, 'value="Склад"'),
        "admin check": ("admin", "/admin/smtp/accounts/check", admin_form, ""),
        "admin group check": ("admin", "/admin/smtp/accounts/group",
                              {"action": "check", "ids": str(account_id)}, "desk@example.com"),
        "mailbox connect": ("ivanov", "/mail/connect", {
            "email": "boris@corp.example", "password": "x", "manual": "y",
            "imap_host": "127.0.0.1", "imap_port": str(holding.port),
            "imap_security": "none"}, 'value="boris@corp.example"'),
        "modal check": ("ivanov", f"/mail/{box_id}/smtp/check", modal, ""),
        "modal save": ("ivanov", f"/mail/{box_id}/smtp", modal, f'value="{holding.port}"'),
        "modal re-check": ("ivanov", f"/mail/{box_id}/smtp/recheck", {}, ""),
        "crm sender": ("ivanov", "/crm/senders/new",
                       sender_form("", holding.port, "sales@corp.example"),
                       'value="sales@corp.example"'),
    }


PAGES = ["admin save", "admin check", "admin group check", "mailbox connect", "modal check",
         "modal save", "modal re-check", "crm sender"]


def _post(client, users, page, htmx: bool):
    who, path, data, _ = page
    login(client, getattr(users, who))
    token = csrf_token(client, "/")
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(path, data={**data, "csrf_token": token}, headers=headers)


def _nothing_changed(app) -> None:
    assert count(app, SmtpAccount) == 1 and count(app, Mailbox) == 1
    assert count(app, CrmSender) == 0
    with app.app_context():
        assert db.session.scalar(select(SmtpAccount.last_check_at)) is None
        assert db.session.scalar(select(MailboxSending.last_check_at)) is None


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
@pytest.mark.parametrize("name", PAGES)
def test_no_free_slot_is_429_in_place_and_checks_nothing(app, client, users, pages, holding,
                                                         no_free_slot, name, htmx):
    accepted = holding.accepted
    response = _post(client, users, pages[name], htmx)
    body = response.get_data(as_text=True)
    assert response.status_code == 429
    assert BUSY in body
    assert pages[name][3] in body  # shown in the form the user was looking at
    assert holding.accepted == accepted  # no connection was even tried
    _nothing_changed(app)


@pytest.mark.parametrize("name", PAGES)
def test_checks_are_limited_per_user_on_every_page(app, client, users, pages, no_free_slot,
                                                   name):
    app.config["SMTP_CHECK_RATE_LIMIT"] = "1/minute"
    first = _post(client, users, pages[name], htmx=True)
    assert BUSY in first.get_data(as_text=True)  # counted, though refused for lack of a slot
    second = _post(client, users, pages[name], htmx=True)
    body = second.get_data(as_text=True)
    assert second.status_code == 429
    assert RATE in body and BUSY not in body
    assert pages[name][3] in body
    _nothing_changed(app)


def test_one_allowance_for_all_pages_of_a_user(app, client, users, pages, no_free_slot):
    app.config["SMTP_CHECK_RATE_LIMIT"] = "2/minute"
    assert BUSY in _post(client, users, pages["mailbox connect"], True).get_data(as_text=True)
    assert BUSY in _post(client, users, pages["modal check"], True).get_data(as_text=True)
    assert RATE in _post(client, users, pages["crm sender"], True).get_data(as_text=True)
    assert RATE in _post(client, users, pages["modal re-check"], True).get_data(as_text=True)


def test_rate_limit_follows_the_user_across_addresses(app, live_server, users, holding,
                                                      no_free_slot):
    app.config["SMTP_CHECK_RATE_LIMIT"] = "2/minute"
    ivanov = Visitor(live_server, users.ivanov)
    token = ivanov.token("/crm/senders/new")
    for _ in range(2):
        status, body = ivanov.request("POST", "/crm/senders/new",
                                      sender_form(token, holding.port))
        assert status == 429 and BUSY in body
    status, body = ivanov.request("POST", "/crm/senders/new", sender_form(token, holding.port))
    assert status == 429 and RATE in body and 'value="sales@corp.example"' in body

    elsewhere = Visitor(live_server, users.ivanov, source="127.0.0.2")
    status, body = elsewhere.request("POST", "/crm/senders/new", sender_form(
        elsewhere.token("/crm/senders/new"), holding.port))
    assert status == 429 and RATE in body

    petrova = Visitor(live_server, users.petrova)
    status, body = petrova.request("POST", "/crm/senders/new", sender_form(
        petrova.token("/crm/senders/new"), holding.port))
    assert status == 429 and BUSY in body and RATE not in body


def test_rate_limit_per_address_covers_every_user_behind_it(app, live_server, users, holding,
                                                            no_free_slot):
    app.config["SMTP_CHECK_RATE_LIMIT_IP"] = "2/minute"
    for account in (users.ivanov, users.petrova):
        visitor = Visitor(live_server, account)
        status, body = visitor.request("POST", "/crm/senders/new", sender_form(
            visitor.token("/crm/senders/new"), holding.port))
        assert status == 429 and BUSY in body
    admin = Visitor(live_server, users.admin)
    form = {"csrf_token": admin.token("/admin/smtp/accounts/new"), "sender_name": "Склад",
            "email": "store@example.com", "host": "127.0.0.1", "port": str(holding.port),
            "security": "none", "auth": "none", "action": "check"}
    status, body = admin.request("POST", "/admin/smtp/accounts/check", form,
                                 {"HX-Request": "true"})
    assert status == 429 and RATE in body

    other = Visitor(live_server, users.admin, source="127.0.0.2")
    form["csrf_token"] = other.token("/admin/smtp/accounts/new")
    status, body = other.request("POST", "/admin/smtp/accounts/check", form,
                                 {"HX-Request": "true"})
    assert status == 429 and BUSY in body and RATE not in body


@pytest.mark.browser
def test_refusal_shows_inside_the_open_modal(page, live_server, app, users, pages,
                                             no_free_slot):
    from playwright.sync_api import expect

    from .conftest import browser_login, screenshot

    checked_at = datetime(2026, 1, 1, 9, 0)
    with app.app_context():  # a last check makes the modal re-check when it opens
        db.session.execute(update(MailboxSending).values(last_check_at=checked_at,
                                                         last_check_ok=True))
        db.session.commit()
    browser_login(page, live_server, users.ivanov)
    page.goto(f"{live_server}/mail/")
    page.get_by_role("link", name="Настройка SMTP отправки").click()
    modal = page.locator("dialog#modal")
    expect(modal).to_contain_text(BUSY)  # the re-check on opening was refused
    modal.get_by_role("button", name="Проверить").click()
    expect(modal.locator("#sending-check")).to_contain_text(BUSY)
    modal.get_by_label("Отправлять через внешний SMTP").check()
    modal.get_by_label("Порт").fill("2526")  # the user's input survives the refusal
    with page.expect_response(lambda r: r.request.method == "POST"
                              and r.url.endswith("/smtp")) as saved:
        modal.get_by_role("button", name="Сохранить").click()
    assert saved.value.status == 429
    expect(modal.locator("#sending-check")).to_contain_text(BUSY)
    expect(modal.get_by_label("Порт")).to_have_value("2526")
    expect(modal).to_be_visible()
    expect(modal).to_contain_text("Настройки для исходящих писем")
    screenshot(page, "check-refused-in-modal")
    # The re-rendered modal re-checks on load again: let that request end before teardown.
    expect(modal.locator("#sending-status")).to_contain_text(BUSY)
    page.wait_for_load_state("networkidle")
    with app.app_context():
        assert db.session.scalar(select(MailboxSending.last_check_at)) == checked_at
        assert db.session.scalar(select(func.count(MailboxSending.id))) == 1


def test_cli_check_without_a_free_slot_says_so(runner, holding, no_free_slot):
    result = runner.invoke(args=["smtp", "check", "--host", "127.0.0.1", "--port",
                                 str(holding.port), "--security", "none", "--auth", "none"])
    assert result.exit_code == 1
    assert '"code": "busy"' in result.output and BUSY in result.output


def test_account_deleted_during_its_check_is_404_not_500(app, live_server, users, holding):
    with app.app_context():
        account_id = make_account("desk@example.com", host="127.0.0.1", port=holding.port,
                                  security="none", auth="none", login="").id
    first = Visitor(live_server, users.admin)
    token = first.token(f"/admin/smtp/accounts/{account_id}")
    answers: list[int] = []
    editing = threading.Thread(target=lambda: answers.append(first.request(
        "POST", f"/admin/smtp/accounts/{account_id}", {
            "csrf_token": token, "active": "y", "sender_name": "Склад",
            "email": "desk@example.com", "host": "127.0.0.1", "port": str(holding.port),
            "security": "none", "auth": "none", "action": "check"})[0]), daemon=True)
    editing.start()
    assert holding.wait_for(1)  # the check hangs; meanwhile another admin deletes the account
    second = Visitor(live_server, users.admin)
    status, _ = second.request("POST", "/admin/smtp/accounts/group", {
        "csrf_token": second.token("/admin/smtp/accounts"), "action": "delete",
        "ids": str(account_id), "confirm": "1"})
    assert status == 302 and count(app, SmtpAccount) == 0
    holding.release()
    editing.join(60)
    assert answers == [404]
