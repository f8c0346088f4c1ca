"""Issue #10 item 9, the smaller holes: login timing, sessions that outlive a logout, cookie
flags and anti-framing headers of the demo host, ``smtp check`` against an IPv6 host,
rate limits kept in memory in production, the development mailbox for administrators only,
and IPv6 hosts shown in brackets."""
from __future__ import annotations

import json
import logging
import smtplib
import socket
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

import portal_smtp.portal.auth as auth
import portal_smtp.portal.models as user_model
from portal_smtp.devmail import start_catcher
from portal_smtp.extensions import db
from portal_smtp.models import MailProvider
from portal_smtp.portal import create_app
from portal_smtp.portal.models import User

from .conftest import _config, csrf_token, dispose, login
from .servers import RecordingHandler, free_port

# --- login timing ------------------------------------------------------------------------


@pytest.fixture
def hash_checks(monkeypatch):
    """Every password hash the login checks, through the real werkzeug function."""
    checked: list[str] = []

    def spy(real):
        def check(pwhash: str, password: str) -> bool:
            checked.append(pwhash)
            return real(pwhash, password)
        return check

    monkeypatch.setattr(auth, "check_password_hash", spy(auth.check_password_hash))
    monkeypatch.setattr(user_model, "check_password_hash", spy(user_model.check_password_hash))
    return checked


def post_login(client, username: str, password: str):
    token = csrf_token(client, "/login")
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token})


def test_unknown_login_checks_a_dummy_hash(client, users, hash_checks):
    response = post_login(client, "no-such-user", "some-password")
    assert response.status_code == 422
    assert "Неверный логин или пароль." in response.get_data(as_text=True)
    # The same work as a wrong password: exactly one hash checked, the dummy one, and it is
    # a real hash of the same method as the users' hashes.
    assert hash_checks == [auth.dummy_password_hash()]
    method = auth.dummy_password_hash().split("$", 1)[0]
    with client.application.app_context():
        assert db.session.get(User, users.ivanov.id).password_hash.startswith(method + "$")


def test_wrong_password_and_inactive_user_check_one_hash_each(app, client, users, hash_checks):
    assert post_login(client, "ivanov", "wrong-password").status_code == 422
    assert len(hash_checks) == 1 and hash_checks[0] != auth.dummy_password_hash()
    with app.app_context():
        db.session.get(User, users.petrova.id).active = False
        db.session.commit()
    hash_checks.clear()
    assert post_login(client, "petrova", users.petrova.password).status_code == 422
    assert len(hash_checks) == 1  # an inactive account is checked too, then refused


# --- sessions, cookies and headers of the demo host ----------------------------------------


def logged_in(client) -> bool:
    """True when ``client`` gets the home page rather than the login redirect."""
    return client.get("/").status_code == 200


def cookie_copy(app, name: str, value: str):
    """A fresh client holding only one copied cookie, as a thief would."""
    thief = app.test_client()
    thief.set_cookie(name, value)
    return thief


def logout(client) -> None:
    token = csrf_token(client, "/")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302


def test_session_cookie_copied_before_logout_stops_working(app, client, users):
    login(client, users.ivanov)
    copied = client.get_cookie("session").value
    assert logged_in(cookie_copy(app, "session", copied))  # the copy works while logged in
    logout(client)
    assert not logged_in(client)
    assert not logged_in(cookie_copy(app, "session", copied))
    # A new login opens a new session as usual.
    login(client, users.ivanov)
    assert logged_in(client)


def test_remember_cookie_copied_before_logout_stops_working(app, client, users):
    token = csrf_token(client, "/login")
    client.post("/login", data={"username": "ivanov", "password": users.ivanov.password,
                                "remember": "y", "csrf_token": token})
    remembered = client.get_cookie("remember_token").value
    assert logged_in(cookie_copy(app, "remember_token", remembered))
    logout(client)
    assert not logged_in(cookie_copy(app, "remember_token", remembered))


def test_password_change_ends_open_sessions(app, client, users):
    login(client, users.ivanov)
    with app.app_context():
        db.session.get(User, users.ivanov.id).set_password("new-ivanov-pass-2")
        db.session.commit()
    assert not logged_in(client)


def test_session_without_epoch_or_with_a_huge_id_loads_nobody(app, users):
    for user_id in (str(users.ivanov.id), f"{users.ivanov.id}:99", "99999999999999999999:0"):
        thief = app.test_client()
        with thief.session_transaction() as session:
            session["_user_id"] = user_id
            session["_fresh"] = True
        assert thief.get("/").status_code == 302


def set_cookie_headers(response) -> dict[str, str]:
    return {value.split("=", 1)[0]: value for value in response.headers.getlist("Set-Cookie")}


def test_cookies_are_lax_and_httponly_and_plain_http_works_in_tests(client, users):
    token = csrf_token(client, "/login")
    response = client.post("/login", data={"username": "ivanov",
                                           "password": users.ivanov.password,
                                           "remember": "y", "csrf_token": token})
    cookies = set_cookie_headers(response)
    for name in ("session", "remember_token"):
        assert "SameSite=Lax" in cookies[name], cookies[name]
        assert "HttpOnly" in cookies[name], cookies[name]
        assert "Secure" not in cookies[name], cookies[name]


@pytest.fixture
def production_app(database_uri, tmp_path):
    """The portal configured for production (HTTPS) on the test database."""
    application = create_app(_config(database_uri, ENV="production",
                                     INSTANCE_PATH=str(tmp_path / "instance")))
    yield application
    dispose(application)


HTTPS = "https://portal.example"


def https_login(client, account, **extra):
    """Log in over HTTPS, as production is served (CSRF checks the Referer there)."""
    token = csrf_token(client, f"{HTTPS}/login")
    response = client.post(f"{HTTPS}/login", headers={"Referer": f"{HTTPS}/login"},
                           data={"username": account.username, "password": account.password,
                                 "csrf_token": token, **extra})
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


def test_production_cookies_are_secure(production_app, users):
    response = https_login(production_app.test_client(), users.ivanov, remember="y")
    cookies = set_cookie_headers(response)
    for name in ("session", "remember_token"):
        assert "Secure" in cookies[name] and "SameSite=Lax" in cookies[name], cookies[name]


@pytest.mark.parametrize("path", ["/login", "/", "/no-such-page", "/portal_smtp/static/portal.js"])
def test_every_response_forbids_framing(client, path):
    with client.get(path) as response:  # a static file is streamed: close it
        headers = response.headers
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"


def test_htmx_fragment_and_post_carry_the_headers_too(client, users):
    login(client, users.ivanov)
    fragment = client.get("/mail/", headers={"HX-Request": "true"})
    assert fragment.headers["X-Frame-Options"] == "DENY"
    token = csrf_token(client, "/")
    response = client.post("/logout", data={"csrf_token": token})
    assert response.headers["Content-Security-Policy"] == "frame-ancestors 'none'"


# --- smtp check against an IP host ---------------------------------------------------------


class SenderRecorder(RecordingHandler):
    """Records every MAIL FROM address (a check says MAIL without sending a letter)."""

    def __init__(self) -> None:
        super().__init__()
        self.senders: list[str] = []

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.senders.append(address)
        return await super().handle_MAIL(server, session, envelope, address, mail_options)


def ipv6_loopback_port() -> int:
    """A free port on ::1 (the machines this runs on have an IPv6 loopback)."""
    with socket.socket(socket.AF_INET6) as probe:
        probe.bind(("::1", 0))
        return probe.getsockname()[1]


@pytest.fixture(params=["::1", "127.0.0.1"])
def ip_smtp(request, app_config):
    """An aiosmtpd server without auth listening on an IP host (IPv6 loopback too)."""
    host = request.param
    port = ipv6_loopback_port() if ":" in host else free_port()
    handler = SenderRecorder()
    controller = Controller(handler, hostname=host, port=port, ident="test ESMTP")
    controller.start()
    app_config["SMTP_ALLOW_PORTS"] = str(port)
    yield host, port, handler
    controller.stop()


def test_check_of_an_ip_host_proves_a_valid_default_sender(ip_smtp, runner):
    host, port, handler = ip_smtp
    result = runner.invoke(args=["smtp", "check", "--host", host, "--port", str(port),
                                 "--security", "none", "--auth", "none", "--timeout", "5"])
    payload = json.loads(result.output)
    assert (result.exit_code, payload["code"]) == (0, "ok"), payload
    literal = "[IPv6:::1]" if host == "::1" else "[127.0.0.1]"
    assert handler.senders == [f"postmaster@{literal}"]


def test_messages_write_an_ipv6_server_in_brackets(runner):
    port = ipv6_loopback_port()  # not an allowed port: the policy refuses before connecting
    result = runner.invoke(args=["smtp", "check", "--host", "::1", "--port", str(port),
                                 "--security", "none", "--auth", "none", "--timeout", "5"])
    payload = json.loads(result.output)
    assert payload["code"] == "blocked_host", payload
    assert f"сетевой политикой портала ([::1]:{port})" in payload["message"]


# --- rate limits in memory in production ---------------------------------------------------

RATELIMIT_BANNER = "PORTAL_RATELIMIT_STORAGE_URI"


def test_production_with_memory_rate_limits_warns_at_start(database_uri, tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    application = create_app(_config(database_uri, ENV="production",
                                     INSTANCE_PATH=str(tmp_path / "instance")))
    dispose(application)
    warnings = [r for r in caplog.records if "RATELIMIT_STORAGE_URI" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    assert "Redis" in warnings[0].getMessage()


def test_testing_and_shared_storage_do_not_warn(database_uri, tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    for config in (_config(database_uri),
                   _config(database_uri, ENV="production", INSTANCE_PATH=str(tmp_path / "i"),
                           RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/0")):
        dispose(create_app(config))
    assert not [r for r in caplog.records if "RATELIMIT_STORAGE_URI" in r.getMessage()]


def test_settings_page_warns_about_memory_rate_limits_in_production(production_app, users):
    client = production_app.test_client()
    https_login(client, users.admin)
    page = client.get(f"{HTTPS}/admin/smtp/settings")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert RATELIMIT_BANNER in text and "Redis" in text
    assert "хранятся в памяти процесса" in text


def test_settings_page_has_no_banner_outside_production(client, users):
    login(client, users.admin)
    page = client.get("/admin/smtp/settings")
    assert page.status_code == 200
    assert RATELIMIT_BANNER not in page.get_data(as_text=True)


# --- the development mailbox ---------------------------------------------------------------

CODE_LETTER = "Код подтверждения: 604213"


@pytest.fixture
def caught_code(app):
    """The development catcher holding one code letter, delivered over real SMTP."""
    port = free_port()
    controller = start_catcher("127.0.0.1", port, app.config["SMTP_DEVMAIL_DIR"])
    letter = EmailMessage()
    letter["From"], letter["To"] = "noreply@example.com", "petrova@example.com"
    letter["Subject"] = "Код подтверждения отправителя"
    letter.set_content(CODE_LETTER)
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as server:
        server.send_message(letter)
    yield CODE_LETTER
    controller.stop()


def test_devmail_is_for_administrators_only(client, users, caught_code):
    login(client, users.ivanov)
    for response in (client.get("/dev/mailbox/"),
                     client.get("/dev/mailbox/", headers={"HX-Request": "true"})):
        assert response.status_code == 403
        assert caught_code not in response.get_data(as_text=True)
    token = csrf_token(client, "/")
    assert client.post("/dev/mailbox/clear", data={"csrf_token": token}).status_code == 403
    home = client.get("/").get_data(as_text=True)
    assert "Тестовый почтовый ящик" not in home and "/dev/mailbox" not in home

    admin = client.application.test_client()
    login(admin, users.admin)
    assert "/dev/mailbox" in admin.get("/").get_data(as_text=True)
    page = admin.get("/dev/mailbox/")
    assert page.status_code == 200
    assert caught_code in page.get_data(as_text=True)  # the user's POST cleared nothing


# --- IPv6 hosts in pages --------------------------------------------------------------------


def test_ipv6_hosts_are_shown_in_brackets(app, client, users):
    with app.app_context():
        db.session.add(MailProvider(name="Сервис на IPv6", imap_host="fe80::1", imap_port=993,
                                    imap_security="ssl", smtp_host="2001:db8::25",
                                    smtp_port=587, smtp_security="starttls"))
        db.session.commit()
    login(client, users.admin)
    text = client.get("/admin/smtp/providers").get_data(as_text=True)
    assert "[fe80::1]:993" in text and "[2001:db8::25]:587" in text
    assert "fe80::1:993" not in text.replace("[fe80::1]:993", "")
