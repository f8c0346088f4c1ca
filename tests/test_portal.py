"""The host portal: login, roles, CSRF (forms and HTMX), error pages, demo data, test mailbox."""
from __future__ import annotations

from portal_smtp.devmail import start_catcher
from portal_smtp.portal import create_app
from portal_smtp.smtp import NetworkPolicy, SmtpSettings, check

from .conftest import PASSWORDS, csrf_token, login
from .servers import free_port


def test_anonymous_visitors_are_sent_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_anonymous_htmx_request_gets_a_client_redirect(client):
    response = client.get("/", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login")


def test_wrong_password_is_refused_in_russian(client, users):
    token = csrf_token(client)
    response = client.post("/login", data={"username": "admin", "password": "nope",
                                           "csrf_token": token})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Неверный логин или пароль." in page
    assert 'value="nope"' not in page


def test_admin_sees_the_smtp_services_menu(client, users):
    login(client, users.admin)
    page = client.get("/").get_data(as_text=True)
    assert "Здравствуйте, Admin!" in page
    assert "Сервисы" in page and "Отправка почты через SMTP" in page
    # The module's pages bring their assets and modal inside the host's layout.
    module_page = client.get("/mail/").get_data(as_text=True)
    assert '<header class="topbar">' in module_page
    assert '<dialog id="modal"' in module_page and "htmx.min.js" in module_page


def test_user_does_not_see_the_services_menu(client, users):
    login(client, users.ivanov)
    page = client.get("/").get_data(as_text=True)
    assert "Здравствуйте, Ivanov!" in page
    assert "Отправка почты через SMTP" not in page


def test_login_never_redirects_off_site(client, users):
    token = csrf_token(client)
    response = client.post("/login?next=//evil.example/steal",
                           data={"username": "ivanov", "password": PASSWORDS["ivanov"],
                                 "csrf_token": token})
    assert response.headers["Location"] == "/"


def test_post_without_csrf_token_is_400(client, users):
    login(client, users.ivanov)
    response = client.post("/logout")
    assert response.status_code == 400
    assert "Сессия устарела" in response.get_data(as_text=True)
    assert client.get("/").status_code == 200  # still logged in


def test_htmx_post_with_csrf_header_is_accepted(client, users):
    login(client, users.ivanov)
    token = csrf_token(client, "/")
    response = client.post("/logout", headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_unknown_page_is_a_russian_404(client, users):
    login(client, users.ivanov)
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "Страница не найдена" in response.get_data(as_text=True)


def test_init_db_demo_prints_the_users_once(runner):
    first = runner.invoke(args=["portal", "demo"])
    assert first.exit_code == 0, first.output
    assert "admin / admin-demo" in first.output
    assert "ivanov / ivanov-demo" in first.output and "petrova / petrova-demo" in first.output
    second = runner.invoke(args=["portal", "demo"])
    assert "admin-demo" not in second.output
    assert "Демо-данные уже созданы." in second.output


def test_demo_administrator_can_log_in(runner, client):
    runner.invoke(args=["portal", "demo"])
    token = csrf_token(client)
    response = client.post("/login", data={"username": "admin", "password": "admin-demo",
                                           "csrf_token": token})
    assert response.status_code == 302


def test_demo_users_have_a_mailbox_to_try_sending_with(runner, client):
    runner.invoke(args=["portal", "demo"])
    token = csrf_token(client)
    client.post("/login", data={"username": "ivanov", "password": "ivanov-demo",
                                "csrf_token": token})
    page = client.get("/mail/").get_data(as_text=True)
    assert "ivanov@example.com" in page and "Настройка SMTP отправки" in page


def test_test_mailbox_shows_a_caught_test_letter(app, client, users, tmp_path):
    port = free_port()
    catcher = start_catcher("127.0.0.1", port, app.config["SMTP_DEVMAIL_DIR"])
    try:
        settings = SmtpSettings(host="127.0.0.1", port=port, security="none", auth="login",
                                login="anyone", password="anything", timeout=5)
        policy = NetworkPolicy.from_entries(allow=["127.0.0.1"], extra_ports=[port])
        result = check(settings, sender="ivanov@example.com", send_test_letter=True,
                       policy=policy, label="Иван Иванов")
        assert result.ok, result.message
    finally:
        catcher.stop()
    login(client, users.admin)  # the test mailbox is for administrators (issue #10)
    page = client.get("/dev/mailbox/").get_data(as_text=True)
    assert "Тестовый почтовый ящик" in page
    assert "Проверка отправки почты" in page
    assert "Иван Иванов" in page
    fragment = client.get("/dev/mailbox/", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="devmail-letters">')
    assert "<html" not in fragment


def test_test_mailbox_is_absent_in_production(app_config, tmp_path):
    from cryptography.fernet import Fernet

    production = create_app({**app_config, "ENV": "production", "INSTANCE_PATH": str(tmp_path),
                             "SMTP_KEYS": Fernet.generate_key().decode()})
    assert "portal_smtp_devmail.index" not in production.view_functions
