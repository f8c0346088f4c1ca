"""The demo host's user administration page «Пользователи» (SPEC §16, issue #11): for
administrators only; a filter and pages kept in the URL; add, change, reset the password,
deactivate (sessions end), delete through the SMTP module's cascade; and in Chromium, a user
added on the page logs in."""
from __future__ import annotations

import re
from types import SimpleNamespace

from sqlalchemy import select

from portal_smtp import send_mail
from portal_smtp.extensions import db
from portal_smtp.models import CrmSender, Mailbox, OutboxMessage
from portal_smtp.portal.models import CrmEntity, User
from portal_smtp.smtp.addresses import normalize_address

from .conftest import Account, browser_login, csrf_token, login, screenshot
from .factories import make_account
from .test_outbox import letter

USER_REMOVED = "Пользователь удалён — письмо не отправлено."


def module_data(app, user_id: int) -> SimpleNamespace:
    """What the SMTP module holds for a user: a mailbox, a CRM sender and a letter still
    waiting in the outbox; and a deal of the host's CRM he owns."""
    with app.app_context():
        make_account("sales@example.com", "Продажи")
        mailbox = Mailbox(user_id=user_id, email="own@corp.example",
                          email_normalized="own@corp.example", imap_host="127.0.0.1",
                          imap_port=993, imap_security="ssl", imap_login="own@corp.example",
                          imap_password="imap-secret")
        sender = CrmSender(user_id=user_id, name="", email="crm@corp.example",
                           email_normalized=normalize_address("crm@corp.example"))
        deal = CrmEntity(kind="deal", title="Сделка пользователя", email="c@client.example",
                         owner_id=user_id)
        db.session.add_all([mailbox, sender, deal])
        db.session.commit()
        letter_id = send_mail(letter(sender="Продажи <sales@example.com>"),
                              created_by_id=user_id)
        assert db.session.get(OutboxMessage, letter_id).status == "queued"
        return SimpleNamespace(mailbox=mailbox.id, sender=sender.id, letter=letter_id,
                               deal=deal.id)


def assert_cascaded(app, data: SimpleNamespace, user_id: int) -> None:
    """The user is gone, and so is what the module held for him; his waiting letter failed
    with the reason; the host's deal stays, without an owner."""
    with app.app_context():
        assert db.session.get(User, user_id) is None
        assert db.session.get(Mailbox, data.mailbox) is None
        assert db.session.get(CrmSender, data.sender) is None
        failed = db.session.get(OutboxMessage, data.letter)
        assert (failed.status, failed.last_error) == ("failed", USER_REMOVED)
        deal = db.session.get(CrmEntity, data.deal)
        assert deal is not None and deal.owner_id is None


def post(client, url: str, data: dict | None = None, page: str = "/users"):
    """POST with the CSRF token of ``page``."""
    return client.post(url, data={"csrf_token": csrf_token(client, page), **(data or {})})


def user_row(app, username: str) -> User | None:
    """The stored user (detached), or None."""
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        if user is not None:
            db.session.expunge(user)
        return user


NEW_USER = {"username": "smirnov", "full_name": "Сергей Смирнов", "email": "smirnov@corp.local",
            "role": "user", "password": "smirnov-pass-1", "password2": "smirnov-pass-1"}


# --- access ------------------------------------------------------------------------------

def test_the_page_is_for_administrators_only(client, users):
    assert client.get("/users").status_code == 302  # anonymous: to the login page
    login(client, users.ivanov)
    for url in ("/users", "/users/new", f"/users/{users.petrova.id}/edit",
                f"/users/{users.petrova.id}/delete"):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "Доступ запрещён" in response.get_data(as_text=True)
    assert client.post(f"/users/{users.petrova.id}/delete",
                       data={"csrf_token": csrf_token(client, "/")}).status_code == 403
    assert user_row(client.application, "petrova") is not None


def test_the_services_menu_links_the_page_for_administrators(client, users):
    login(client, users.ivanov)
    assert 'href="/users"' not in client.get("/").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login(client, users.admin)
    home = client.get("/").get_data(as_text=True)
    assert 'href="/users">Пользователи</a>' in home


def test_unknown_users_are_404(client, users):
    login(client, users.admin)
    for user_id in (999_999, 2**40):
        assert client.get(f"/users/{user_id}/edit").status_code == 404
        assert post(client, f"/users/{user_id}/delete").status_code == 404


def test_a_form_without_csrf_token_is_refused(client, users):
    login(client, users.admin)
    response = client.post(f"/users/{users.petrova.id}/active", data={"active": "0"})
    assert response.status_code == 400
    assert user_row(client.application, "petrova").active


# --- the list ----------------------------------------------------------------------------

def test_the_list_filters_by_text_and_state_in_the_url(app, client, users):
    login(client, users.admin)
    post(client, f"/users/{users.petrova.id}/active", {"active": "0"})
    page = client.get("/users?q=PETR").get_data(as_text=True)
    assert "petrova@example.com" in page and "ivanov@example.com" not in page
    assert 'value="PETR"' in page  # the filter field keeps what was typed
    page = client.get("/users?state=inactive").get_data(as_text=True)
    assert "petrova@example.com" in page and "ivanov@example.com" not in page
    assert "Отключён" in page
    page = client.get("/users?state=active").get_data(as_text=True)
    assert "petrova@example.com" not in page and "ivanov@example.com" in page
    page = client.get("/users?q=nobody-like-this").get_data(as_text=True)
    assert "Ничего не найдено" in page
    # «%» and «_» are letters here, not wildcards.
    assert "ivanov@example.com" not in client.get("/users?q=%25").get_data(as_text=True)


def test_the_list_has_pages_that_keep_the_filter(app, client, users):
    with app.app_context():
        for number in range(25):
            user = User(username=f"staff{number:02d}", full_name=f"Сотрудник {number}",
                        email=f"staff{number:02d}@corp.local", role="user")
            user.set_password("staff-pass-1")
            db.session.add(user)
        db.session.commit()
    login(client, users.admin)
    first = client.get("/users?q=staff").get_data(as_text=True)
    assert first.count("@corp.local</td>") == 20
    assert 'href="/users?q=staff&amp;page=2">Вперёд ›' in first
    second = client.get("/users?q=staff&page=2").get_data(as_text=True)
    assert second.count("@corp.local</td>") == 5
    assert "staff24@corp.local" in second and "staff00@corp.local" not in second
    assert 'href="/users?q=staff">‹ Назад' in second
    assert "Вперёд" not in second


# --- add, change, password ---------------------------------------------------------------

def test_adding_a_user_checks_the_password_twice(client, users):
    login(client, users.admin)
    for changes, error in (({"password2": "other-pass-1"}, "Пароли не совпадают."),
                           ({"password": "short", "password2": "short"},
                            "Не короче 8 символов."),
                           ({"username": "IVANOV"}, "Пользователь «IVANOV» уже есть."),
                           ({"email": "not an address"}, "Укажите адрес электронной почты"),
                           ({"full_name": ""}, "Введите имя.")):
        response = post(client, "/users/new", NEW_USER | changes, page="/users/new")
        assert response.status_code == 422, changes
        assert error in response.get_data(as_text=True), changes
    assert user_row(client.application, "smirnov") is None


def test_an_added_user_can_log_in_and_the_list_keeps_its_filter(client, users):
    login(client, users.admin)
    response = post(client, "/users/new", NEW_USER | {"q": "smir", "state": "active"},
                    page="/users/new?q=smir&state=active")
    assert response.status_code == 302
    assert response.headers["Location"] == "/users?q=smir&state=active"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Пользователь smirnov добавлен." in page and "smirnov@corp.local" in page
    other = client.application.test_client()
    login(other, Account(0, "smirnov", NEW_USER["password"]))
    assert "Сергей Смирнов" in other.get("/").get_data(as_text=True)


def test_editing_changes_name_address_and_role(client, users):
    login(client, users.admin)
    response = post(client, f"/users/{users.ivanov.id}/edit",
                    {"full_name": "Иван Петрович", "email": "ip@corp.local", "role": "admin"},
                    page=f"/users/{users.ivanov.id}/edit")
    assert response.status_code == 302
    user = user_row(client.application, "ivanov")
    assert (user.full_name, user.email, user.is_admin) == ("Иван Петрович", "ip@corp.local",
                                                           True)


def test_an_administrator_keeps_his_own_role(client, users):
    login(client, users.admin)
    response = post(client, f"/users/{users.admin.id}/edit",
                    {"full_name": "Admin", "email": "admin@example.com", "role": "user"},
                    page=f"/users/{users.admin.id}/edit")
    assert response.status_code == 422
    assert "Свою роль администратор изменить не может." in response.get_data(as_text=True)
    assert user_row(client.application, "admin").is_admin


def test_a_password_reset_ends_the_users_sessions(client, users):
    victim = client.application.test_client()
    login(victim, users.ivanov)
    assert victim.get("/").status_code == 200
    login(client, users.admin)
    response = post(client, f"/users/{users.ivanov.id}/password",
                    {"password": "fresh-pass-22", "password2": "fresh-pass-22"},
                    page=f"/users/{users.ivanov.id}/password")
    assert response.status_code == 302
    assert victim.get("/").status_code == 302  # the old session no longer loads
    login(victim, Account(users.ivanov.id, "ivanov", "fresh-pass-22"))


# --- deactivate, delete ------------------------------------------------------------------

def test_deactivation_ends_sessions_and_logins_until_activated(client, users):
    victim = client.application.test_client()
    login(victim, users.ivanov)
    login(client, users.admin)
    post(client, f"/users/{users.ivanov.id}/active", {"active": "0", "q": "iv"})
    assert victim.get("/").status_code == 302
    refused = victim.post("/login", data={"username": "ivanov", "password": users.ivanov.password,
                                          "csrf_token": csrf_token(victim)})
    assert refused.status_code == 422
    response = post(client, f"/users/{users.ivanov.id}/active", {"active": "1"})
    assert response.headers["Location"] == "/users"
    login(victim, users.ivanov)


def test_an_administrator_cannot_deactivate_or_delete_himself(client, users):
    login(client, users.admin)
    page = client.get("/users").get_data(as_text=True)
    assert f"/users/{users.admin.id}/delete" not in page  # no buttons on his own row
    post(client, f"/users/{users.admin.id}/active", {"active": "0"})
    assert "Нельзя отключить самого себя." in client.get("/users").get_data(as_text=True)
    confirm = client.get(f"/users/{users.admin.id}/delete").get_data(as_text=True)
    assert "Нельзя удалить самого себя." in confirm and "Да, удалить" not in confirm
    post(client, f"/users/{users.admin.id}/delete")
    assert "Нельзя удалить самого себя." in client.get("/users").get_data(as_text=True)
    admin = user_row(client.application, "admin")
    assert admin is not None and admin.active


def test_delete_asks_first_then_runs_the_modules_cascade(app, client, users):
    data = module_data(app, users.petrova.id)
    login(client, users.admin)
    confirm = client.get(f"/users/{users.petrova.id}/delete?q=pet")
    assert confirm.status_code == 200
    text = confirm.get_data(as_text=True)
    assert "Удалить пользователя petrova?" in text and 'name="q" value="pet"' in text
    assert user_row(app, "petrova") is not None  # asking deletes nothing
    response = post(client, f"/users/{users.petrova.id}/delete", {"q": "pet"})
    assert response.headers["Location"] == "/users?q=pet"
    assert "Пользователь petrova удалён." in client.get("/users").get_data(as_text=True)
    assert_cascaded(app, data, users.petrova.id)


# --- in the browser ----------------------------------------------------------------------

def test_browser_an_added_user_logs_in(page, live_server, users):
    browser_login(page, live_server, users.admin)
    page.locator("summary", has_text="Сервисы").click()
    page.get_by_role("link", name="Пользователи").click()
    page.wait_for_url(f"{live_server}/users")
    page.get_by_role("link", name="Добавить пользователя").click()
    page.get_by_label("Логин").fill("smirnov")
    page.get_by_label("Имя").fill("Сергей Смирнов")
    page.get_by_label("Email").fill("smirnov@corp.local")
    page.get_by_label("Пароль", exact=True).fill("smirnov-pass-1")
    page.get_by_label("Пароль ещё раз").fill("smirnov-pass-1")
    page.get_by_role("button", name="Добавить").click()
    page.wait_for_url(f"{live_server}/users")
    assert page.get_by_text("Пользователь smirnov добавлен.").is_visible()
    assert page.get_by_role("cell", name="smirnov@corp.local").is_visible()
    screenshot(page, "portal-users-added")
    page.get_by_role("button", name="Выйти").click()
    page.wait_for_url(re.compile(r".*/login$"))
    browser_login(page, live_server, Account(0, "smirnov", "smirnov-pass-1"))
    assert page.get_by_role("heading", name="Здравствуйте, Сергей Смирнов!").is_visible()
