"""«SMTP-аккаунты» over HTTP: access, verified saving, «Проверить», the list and group actions."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from portal_smtp.extensions import db
from portal_smtp.models import SmtpAccount

from .conftest import csrf_token, login
from .factories import make_account
from .servers import USERS

LOGIN = "user@example.com"
ADMIN_URLS = [
    ("GET", "/admin/smtp/accounts"), ("GET", "/admin/smtp/accounts/new"),
    ("GET", "/admin/smtp/accounts/count"), ("GET", "/admin/smtp/settings"),
    ("POST", "/admin/smtp/accounts/new"), ("POST", "/admin/smtp/accounts/check"),
    ("POST", "/admin/smtp/accounts/group"), ("POST", "/admin/smtp/settings"),
]


def form_data(endpoint, token, **changes):
    data = {
        "csrf_token": token, "active": "y", "sender_name": "Рассылка 34web", "email": LOGIN,
        "host": endpoint.host, "port": str(endpoint.port), "security": "starttls",
        "auth": "login", "login": LOGIN, "password": USERS[LOGIN], "verify_tls": "y",
        "timeout": "5", "action": "save",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def account_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(SmtpAccount.id)))


@pytest.fixture
def admin(client, users):
    login(client, users.admin)
    return client


@pytest.mark.parametrize(("method", "url"), ADMIN_URLS)
def test_non_administrators_get_403(client, users, method, url):
    login(client, users.ivanov)
    token = csrf_token(client, "/")
    response = client.open(url, method=method, data={"csrf_token": token})
    assert response.status_code == 403
    assert "Доступ запрещён" in response.get_data(as_text=True)


def test_wrong_password_saves_nothing_and_keeps_the_input(app, admin, smtp):
    token = csrf_token(admin, "/admin/smtp/accounts/new")
    response = admin.post("/admin/smtp/accounts/new",
                          data=form_data(smtp.starttls, token, password="неверный-пароль"))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Неверный логин или пароль" in page
    assert 'value="Рассылка 34web"' in page and f'value="{LOGIN}"' in page
    assert "неверный-пароль" not in page
    assert account_count(app) == 0


def test_valid_account_is_saved_with_its_check(app, admin, smtp):
    token = csrf_token(admin, "/admin/smtp/accounts/new")
    response = admin.post("/admin/smtp/accounts/new", data=form_data(smtp.starttls, token))
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/smtp/accounts"
    with app.app_context():
        account = db.session.scalar(select(SmtpAccount))
        assert (account.email_normalized, account.security, account.port) == (
            LOGIN, "starttls", smtp.starttls.port)
        assert account.password == USERS[LOGIN]
        assert account.last_check_ok and account.last_check_code == "ok"
    page = admin.get("/admin/smtp/accounts").get_data(as_text=True)
    assert "Данные доступа верны!" in page  # the flash
    assert "Успешно" in page and LOGIN in page


@pytest.mark.parametrize(("action", "target"), [
    ("apply", r"/admin/smtp/accounts/\d+$"), ("save_add", r"/admin/smtp/accounts/new$"),
])
def test_apply_and_save_and_add(admin, smtp, action, target):
    token = csrf_token(admin, "/admin/smtp/accounts/new")
    response = admin.post("/admin/smtp/accounts/new",
                          data=form_data(smtp.starttls, token, action=action))
    assert re.search(target, response.headers["Location"])


def test_blank_password_on_edit_keeps_the_stored_one(app, admin, smtp):
    with app.app_context():
        account_id = make_account(LOGIN, "Старое имя", host="127.0.0.1", port=smtp.plain.port,
                                  security="none", password=USERS[LOGIN]).id
    url = f"/admin/smtp/accounts/{account_id}"
    page = admin.get(url).get_data(as_text=True)
    assert USERS[LOGIN] not in page
    token = csrf_token(admin, url)
    response = admin.post(url, data=form_data(smtp.plain, token, security="none", password="",
                                              sender_name="Новое имя"))
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        account = db.session.get(SmtpAccount, account_id)
        assert (account.sender_name, account.password) == ("Новое имя", USERS[LOGIN])


def test_check_over_htmx_saves_nothing(app, admin, smtp):
    token = csrf_token(admin, "/admin/smtp/accounts/new")
    response = admin.post("/admin/smtp/accounts/check", data=form_data(smtp.starttls, token),
                          headers={"HX-Request": "true"})
    fragment = response.get_data(as_text=True)
    assert "Данные доступа верны!" in fragment
    assert "<html" not in fragment
    bad = admin.post("/admin/smtp/accounts/check",
                     data=form_data(smtp.starttls, token, security="ssl"),
                     headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Ошибка защищённого соединения" in bad
    assert account_count(app) == 0


def test_check_without_javascript_rerenders_the_form(app, admin, smtp):
    token = csrf_token(admin, "/admin/smtp/accounts/new")
    response = admin.post("/admin/smtp/accounts/new",
                          data=form_data(smtp.starttls, token, action="check"))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Данные доступа верны!" in page and "Параметры SMTP-аккаунта" in page
    assert account_count(app) == 0


def test_check_endpoint_is_rate_limited_per_user(admin):
    token = csrf_token(admin, "/admin/smtp/accounts/new")
    statuses = [admin.post("/admin/smtp/accounts/check", data={"csrf_token": token}).status_code
                for _ in range(21)]
    assert statuses[:20] == [200] * 20
    assert statuses[20] == 429


def test_module_setting_sends_a_test_letter_with_every_check(app, admin, smtp):
    token = csrf_token(admin, "/admin/smtp/settings")
    response = admin.post("/admin/smtp/settings", data={
        "csrf_token": token, "enabled": "y", "send_test_letter": "y",
        "test_email": "tests@example.com", "log_retention_days": "30", "default_timeout": "10",
        "allow_hosts": "", "allow_ports": ""})
    assert response.status_code == 302
    admin.post("/admin/smtp/accounts/check", data=form_data(smtp.starttls, token),
               headers={"HX-Request": "true"})
    [letter] = smtp.starttls.handler.received
    assert letter.rcpt_tos == ["tests@example.com"]
    assert letter.message["Subject"] == "Проверка отправки почты"


def test_settings_refuse_bad_input_and_save_nothing(app, admin):
    token = csrf_token(admin, "/admin/smtp/settings")
    response = admin.post("/admin/smtp/settings", data={
        "csrf_token": token, "enabled": "y", "test_email": "не адрес",
        "log_retention_days": "0", "default_timeout": "500", "allow_hosts": "bad host!",
        "allow_ports": "99999"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    for text in ("Некорректный адрес e-mail", "Срок хранения — от 1 до 3650 дней.",
                 "Тайм-аут должен быть от 1 до 120 секунд.", "Некорректная запись: bad host!",
                 "Порты — числа от 1 до 65535 через запятую."):
        assert text in page
    with app.app_context():
        from portal_smtp.models import ModuleSettings
        assert db.session.scalar(select(func.count(ModuleSettings.id))) == 0


def test_module_allow_list_extends_the_policy(app, admin, smtp):
    app.extensions["portal_smtp"].policy = type(app.extensions["portal_smtp"].policy)()
    token = csrf_token(admin, "/admin/smtp/settings")
    blocked = admin.post("/admin/smtp/accounts/check", data=form_data(smtp.starttls, token),
                         headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Подключение к этому адресу запрещено" in blocked
    admin.post("/admin/smtp/settings", data={
        "csrf_token": token, "enabled": "y", "log_retention_days": "30",
        "default_timeout": "10", "allow_hosts": "127.0.0.1",
        "allow_ports": str(smtp.starttls.port)})
    allowed = admin.post("/admin/smtp/accounts/check", data=form_data(smtp.starttls, token),
                         headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Данные доступа верны!" in allowed


# --- the list ------------------------------------------------------------------------------

@pytest.fixture
def many(app):
    with app.app_context():
        ids = [make_account(f"user{n:02d}@corp{n % 3}.example", f"Имя {n:02d}",
                            host=f"smtp{n % 2}.example.com", active=n % 4 != 0, commit=False).id
               for n in range(25)]
        db.session.commit()
    return ids


def rows(page: str) -> list[str]:
    return re.findall(r'name="ids" value="(\d+)"', page)


def test_list_pages_sorts_and_keeps_state_in_the_url(admin, many):
    page = admin.get("/admin/smtp/accounts?size=10&page=3").get_data(as_text=True)
    assert len(rows(page)) == 5
    assert "ОТМЕЧЕНО: <span data-checked-count>0</span> / 5" in page
    first = admin.get("/admin/smtp/accounts?sort=email&dir=asc&size=10").get_data(as_text=True)
    emails = re.findall(r">(user\d\d@corp\d\.example)</a>", first)
    assert emails == sorted(emails) and len(emails) == 10
    assert "page=2" in first and "sort=email" in first  # links keep the state


def test_a_page_past_the_end_shows_the_last_page(admin, many):
    page = admin.get("/admin/smtp/accounts?size=10&page=40").get_data(as_text=True)
    assert len(rows(page)) == 5
    assert '<strong aria-current="page">3</strong>' in page


def test_filters_over_htmx_return_the_table_only(admin, many):
    response = admin.get("/admin/smtp/accounts?active=N", headers={"HX-Request": "true"})
    fragment = response.get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="accounts-table">')
    assert len(rows(fragment)) == 7  # n % 4 == 0 for n < 25
    by_server = admin.get("/admin/smtp/accounts?server=SMTP1.example.com&size=50")
    assert len(rows(by_server.get_data(as_text=True))) == 12
    by_text = admin.get("/admin/smtp/accounts?q=corp2&size=50").get_data(as_text=True)
    assert len(rows(by_text)) == 8
    empty = admin.get("/admin/smtp/accounts?q=nothing-like-this").get_data(as_text=True)
    assert "Ничего не найдено. Измените условия фильтра." in empty


def test_total_is_counted_on_demand(admin, many):
    page = admin.get("/admin/smtp/accounts?active=Y").get_data(as_text=True)
    assert "ПОКАЗАТЬ КОЛИЧЕСТВО" in page
    assert admin.get("/admin/smtp/accounts/count?active=Y").get_data(as_text=True).strip() \
        == "ВСЕГО: 18"
    assert "ВСЕГО: 18" in admin.get("/admin/smtp/accounts?active=Y&total=1").get_data(
        as_text=True)


def test_group_deactivate_checked_rows(app, admin, many):
    token = csrf_token(admin, "/admin/smtp/accounts")
    response = admin.post("/admin/smtp/accounts/group", data={
        "csrf_token": token, "action": "deactivate", "ids": [many[1], many[2]],
        "list_query": "active=Y"}, headers={"HX-Request": "true"})
    fragment = response.get_data(as_text=True)
    assert "Деактивировано аккаунтов: 2." in fragment
    assert response.headers["HX-Trigger"] == "closeModal"
    with app.app_context():
        assert not db.session.get(SmtpAccount, many[1]).active
        assert db.session.get(SmtpAccount, many[3]).active


def test_group_action_for_all_follows_the_filter(app, admin, many):
    token = csrf_token(admin, "/admin/smtp/accounts")
    admin.post("/admin/smtp/accounts/group", data={
        "csrf_token": token, "action": "deactivate", "for_all": "1",
        "list_query": "server=smtp0.example.com"})
    with app.app_context():
        active = db.session.scalars(select(SmtpAccount.host).where(SmtpAccount.active)).all()
        assert set(active) == {"smtp1.example.com"}


def test_delete_asks_for_confirmation_first(app, admin, many):
    token = csrf_token(admin, "/admin/smtp/accounts")
    ask = admin.post("/admin/smtp/accounts/group", data={
        "csrf_token": token, "action": "delete", "ids": [many[0]]},
        headers={"HX-Request": "true"})
    assert ask.headers["HX-Retarget"] == "#modal-content"
    assert "Удалить 1 SMTP-аккаунт?" in ask.get_data(as_text=True)
    assert account_count(app) == 25
    done = admin.post("/admin/smtp/accounts/group", data={
        "csrf_token": token, "action": "delete", "ids": [many[0]], "confirm": "1"},
        headers={"HX-Request": "true"})
    assert "Удалено аккаунтов: 1." in done.get_data(as_text=True)
    assert account_count(app) == 24


def test_delete_confirmation_without_javascript(app, admin, many):
    token = csrf_token(admin, "/admin/smtp/accounts")
    page = admin.post("/admin/smtp/accounts/group", data={
        "csrf_token": token, "action": "delete", "ids": [many[0], many[1]]}
    ).get_data(as_text=True)
    assert "Удалить 2 SMTP-аккаунта?" in page and "<html" in page
    done = admin.post("/admin/smtp/accounts/group", data={
        "csrf_token": token, "action": "delete", "ids": [many[0], many[1]], "confirm": "1"})
    assert done.status_code == 302
    assert account_count(app) == 23


def test_group_action_without_selection_explains(admin, many):
    token = csrf_token(admin, "/admin/smtp/accounts")
    fragment = admin.post("/admin/smtp/accounts/group", data={
        "csrf_token": token, "action": "activate"}, headers={"HX-Request": "true"})
    assert "Отметьте хотя бы один аккаунт." in fragment.get_data(as_text=True)


def test_group_check_records_the_results(app, admin, smtp):
    with app.app_context():
        good = make_account(LOGIN, host="127.0.0.1", port=smtp.plain.port, security="none",
                            password=USERS[LOGIN]).id
        bad = make_account(LOGIN, host="127.0.0.1", port=smtp.plain.port, security="none",
                           password="wrong").id
    token = csrf_token(admin, "/admin/smtp/accounts")
    fragment = admin.post("/admin/smtp/accounts/group", data={
        "csrf_token": token, "action": "check", "ids": [good, bad]},
        headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Проверено аккаунтов: 2, успешно: 1, с ошибками: 1." in fragment
    with app.app_context():
        assert db.session.get(SmtpAccount, good).last_check_ok is True
        assert db.session.get(SmtpAccount, bad).last_check_code == "auth_failed"


def test_group_post_without_csrf_is_400(admin, many):
    response = admin.post("/admin/smtp/accounts/group", data={"action": "delete",
                                                              "ids": [many[0]], "confirm": "1"})
    assert response.status_code == 400


@pytest.mark.parametrize(("changes", "message"), [
    ({"sender_name": "=?UTF-8?Q?=D0=9E=0ABcc:_x@evil.example?="},
     "Поле не может содержать переводы строк и управляющие символы."),
    ({"sender_name": "Я" * 201}, "Значение не должно содержать более 200 символов."),
    ({"port": "25.5"}, "Введите целое число."),
    ({"password": ""}, "Укажите пароль."),
    ({"auth": "xoauth2", "password": ""}, "Укажите токен доступа."),
])
def test_form_errors_are_russian_and_single(app, admin, smtp, changes, message):
    token = csrf_token(admin, "/admin/smtp/accounts/new")
    page = admin.post("/admin/smtp/accounts/new",
                      data=form_data(smtp.starttls, token, **changes)).get_data(as_text=True)
    assert page.count(message) == 1
    assert "Not a valid" not in page and "Field cannot" not in page
    assert "Порт должен быть числом" not in page or "port" not in changes
    assert account_count(app) == 0


def test_port_outside_the_policy_names_the_setting(admin, smtp, app):
    app.extensions["portal_smtp"].policy = type(app.extensions["portal_smtp"].policy
                                                ).from_entries(allow=["127.0.0.1"])
    token = csrf_token(admin, "/admin/smtp/accounts/new")
    fragment = admin.post("/admin/smtp/accounts/check", data=form_data(smtp.starttls, token),
                          headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Подключение к этому адресу запрещено" in fragment
    assert f"порт {smtp.starttls.port} не входит в список разрешённых" in fragment
    assert "Дополнительные разрешённые порты" in fragment


def test_history_restore_gets_the_whole_page(admin, many):
    response = admin.get("/admin/smtp/accounts?q=corp2", headers={
        "HX-Request": "true", "HX-History-Restore-Request": "true"})
    page = response.get_data(as_text=True)
    assert "<html" in page and 'value="corp2"' in page


def test_partial_table_refreshes_the_filter_state_out_of_band(admin, many):
    fragment = admin.get("/admin/smtp/accounts?sort=email&dir=asc&size=50",
                         headers={"HX-Request": "true"}).get_data(as_text=True)
    assert '<div id="accounts-list-state" hx-swap-oob="true">' in fragment
    assert '<input type="hidden" name="sort" value="email">' in fragment
    assert '<input type="hidden" name="size" value="50">' in fragment


def test_switched_off_module_is_announced_on_admin_pages(app, admin):
    from portal_smtp.services.module_settings import get_module_settings, save_module_settings

    with app.app_context():
        save_module_settings(get_module_settings(), enabled=False)
        db.session.commit()
    for url in ("/admin/smtp/accounts", "/admin/smtp/logs", "/admin/smtp/accounts/new"):
        assert "Модуль выключен" in admin.get(url).get_data(as_text=True)
