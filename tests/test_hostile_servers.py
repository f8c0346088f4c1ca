"""SPEC §3, §11, §15: hostile servers — endless, trickling, markup-laden and credential-echoing
replies, servers that hang up at every step — against the check, the worker and the pages.

Every server is a real socket on loopback playing one misbehaviour (tests/servers.py). Each
case asserts the verdict (code and Russian message) and, for the worker, the letter's status.
Memory is measured in bench/bench_hostile.py, not here.
"""
from __future__ import annotations

import base64
import hmac
import json
from email.message import EmailMessage
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from portal_smtp import send_mail
from portal_smtp.extensions import db
from portal_smtp.models import OutboxMessage, SendLog, SmtpAccount
from portal_smtp.smtp import NetworkPolicy, SmtpSettings, check
from portal_smtp.smtp.connection import MAX_REPLY_LINE, MAX_REPLY_LINES
from portal_smtp.smtp.imap import MAX_IMAP_LINE, MAX_IMAP_LITERAL, check_imap
from portal_smtp.worker import run_workers

from .conftest import csrf_token, login
from .factories import make_account
from .servers import (
    HostileSmtp,
    ScriptedServer,
    after,
    echo_auth,
    echo_auth_cram,
    echo_auth_login,
    endless_line,
    endless_reply,
    half_a_reply,
    hang_up,
    imap_echo_auth,
    imap_endless_line,
    imap_endless_lines,
    imap_huge_literal,
    offering,
    script_reply,
    stutter,
    trickling_reply,
)

LOGIN = "user@example.com"
PASSWORD = "hostile-Пароль-42"
TOO_LONG = "сервер прислал слишком длинный ответ"

#: name → the server's behaviour.
BEHAVIOURS = {
    "endless_ehlo": HostileSmtp(ehlo=endless_reply),
    "endless_line": HostileSmtp(greeting=endless_line),
    "trickling": HostileSmtp(ehlo=trickling_reply),
    "script": HostileSmtp(mail=script_reply),
    "echo_plain": HostileSmtp(auth=echo_auth),
    "echo_login": HostileSmtp(ehlo=offering("LOGIN"), auth=echo_auth_login),
    "echo_cram": HostileSmtp(ehlo=offering("CRAM-MD5"), auth=echo_auth_cram),
    "echo_xoauth2": HostileSmtp(ehlo=offering("XOAUTH2"), auth=echo_auth),
    "close_after_ehlo": HostileSmtp(ehlo=hang_up),
    "close_after_auth": HostileSmtp(auth=hang_up),
    "close_after_data": HostileSmtp(data=hang_up),
    "close_after_dot": HostileSmtp(dot=hang_up),
    "endless_after_dot": HostileSmtp(dot=endless_reply),
    "half_reply_after_dot": HostileSmtp(dot=half_a_reply),
    "half_reply_to_mail": HostileSmtp(mail=half_a_reply),
    # With a 2 s timeout the letter's deadline is 6 s: MAIL and RCPT take 1.8 s each, then
    # the DATA reply comes a byte every 1.8 s — «25» is read when the deadline cuts it.
    "stutter_after_dot": HostileSmtp(mail=after(1.8, b"250 2.1.0 OK\r\n"),
                                     rcpt=after(1.8, b"250 2.1.5 OK\r\n"), dot=stutter(1.8)),
    "imap_endless_line": imap_endless_line,
    "imap_endless_lines": imap_endless_lines,
    "imap_huge_literal": imap_huge_literal,
    "imap_echo_auth": imap_echo_auth,
}


@pytest.fixture(scope="module")
def hostile():
    """Every hostile server, started once: ``hostile.endless_ehlo.port`` …"""
    servers = {name: ScriptedServer(behaviour) for name, behaviour in BEHAVIOURS.items()}
    namespace = SimpleNamespace(**{
        name: SimpleNamespace(host="127.0.0.1", port=server.port,
                              script=BEHAVIOURS[name])
        for name, server in servers.items()})
    namespace.ports = [server.port for server in servers.values()]
    yield namespace
    for server in servers.values():
        server.stop()


@pytest.fixture
def policy(hostile):
    return NetworkPolicy.from_entries(allow=["127.0.0.1"], extra_ports=hostile.ports)


@pytest.fixture
def app_config(app_config, hostile):
    app_config["SMTP_ALLOW_PORTS"] = ",".join(map(str, hostile.ports))
    return app_config


def settings_for(server, auth="none", timeout=5, password=PASSWORD) -> SmtpSettings:
    credentials = {"login": LOGIN, "password": password} if auth != "none" else {}
    return SmtpSettings(host=server.host, port=server.port, security="none", auth=auth,
                        timeout=timeout, **credentials)


def run_check(server, policy, **kwargs):
    return check(settings_for(server, **kwargs), sender=LOGIN, policy=policy)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# --- unbounded replies: a clear verdict instead of a growing portal ------------------------------

def test_endless_multiline_reply_is_cut_with_a_clear_verdict(hostile, policy):
    result = run_check(hostile.endless_ehlo, policy)
    assert (result.ok, result.code) == (False, "unexpected")
    assert result.message.startswith(
        f"Ошибка SMTP: {TOO_LONG} (больше {MAX_REPLY_LINES} строк в одном ответе).")


def test_single_endless_line_is_cut_with_a_clear_verdict(hostile, policy):
    result = run_check(hostile.endless_line, policy)
    assert result.code == "unexpected"
    assert result.message.startswith(
        f"Ошибка SMTP: {TOO_LONG} (строка длиннее {MAX_REPLY_LINE} байт).")


def test_trickling_reply_is_cut_at_the_timeout(hostile, policy):
    result = run_check(hostile.trickling, policy, timeout=2)
    assert result.code == "timeout"
    assert result.message.startswith(
        f"Сервер 127.0.0.1:{hostile.trickling.port} не ответил за 2 с.")


@pytest.mark.parametrize(("server", "what"), [
    ("imap_endless_line", f"строка длиннее {MAX_IMAP_LINE} байт"),
    ("imap_endless_lines", "байт за сеанс"),
    ("imap_huge_literal", f"блок данных в 999999999 байт, допустимо не больше {MAX_IMAP_LITERAL}"),
])
def test_imap_replies_are_bounded(hostile, policy, server, what):
    result = check_imap(settings_for(getattr(hostile, server), auth="login"), policy=policy)
    assert (result.ok, result.code) == (False, "unexpected")
    assert result.message.startswith(f"Ошибка IMAP: {TOO_LONG} (")
    assert what in result.message


# --- AUTH echoed back: no credential in any form reaches a message, a log or JSON -----------------

def cram_answer(password: str = PASSWORD) -> str:
    digest = hmac.new(password.encode(), b"<1896.697170952@hostile.example>", "md5").hexdigest()
    return b64(f"{LOGIN} {digest}")


ECHOED = {
    "echo_plain": ("login", [b64(f"\0{LOGIN}\0{PASSWORD}")]),
    "echo_login": ("login", [b64(LOGIN), b64(PASSWORD)]),
    "echo_cram": ("login", [cram_answer()]),
    "echo_xoauth2": ("xoauth2", [b64(f"user={LOGIN}\1auth=Bearer {PASSWORD}\1\1")]),
}


@pytest.mark.parametrize("server", list(ECHOED))
def test_echoed_auth_line_is_masked_in_the_check_result(hostile, policy, server):
    auth, forms = ECHOED[server]
    result = run_check(getattr(hostile, server), policy, auth=auth)
    assert result.code == "auth_failed"
    assert result.message.startswith("Неверный логин или пароль.")
    assert "Ответ сервера: 535" in result.message and "***" in result.reply
    for shown in (result.message, result.reply):
        assert PASSWORD not in shown
        for form in forms:
            assert form not in shown


def test_echoed_authenticate_is_masked_in_the_imap_check(hostile, policy):
    result = check_imap(settings_for(hostile.imap_echo_auth, auth="login"), policy=policy)
    assert result.code == "auth_failed"
    assert result.message.startswith("Неверный логин или пароль.")
    assert "no such user: ***" in result.message
    assert b64(f"\0{LOGIN}\0{PASSWORD}") not in result.message and PASSWORD not in result.message


# --- servers that hang up -------------------------------------------------------------------

@pytest.mark.parametrize(("server", "auth"), [
    ("close_after_ehlo", "none"), ("close_after_auth", "login"), ("close_after_data", "none")])
def test_server_that_hangs_up_is_named_in_the_check(hostile, policy, server, auth):
    result = run_check(getattr(hostile, server), policy, auth=auth)
    assert result.code == "unexpected"
    assert result.message.startswith("Ошибка SMTP: сервер неожиданно разорвал соединение.")


# --- the worker -------------------------------------------------------------------------------

def letter() -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Отдел продаж <{LOGIN}>"
    message["To"] = "client@example.org"
    message["Subject"] = "Счёт №7"
    message.set_content("Здравствуйте! Счёт во вложении.")
    return message


def queue_through(app, server, auth="none", timeout=2) -> int:
    """Queue one letter through an admin account on ``server``; returns its outbox id."""
    with app.app_context():
        account = make_account(LOGIN, "Продажи", host=server.host, port=server.port,
                               security="none", auth=auth, password=PASSWORD, commit=False)
        account.timeout = timeout
        db.session.commit()
        return send_mail(letter())


def deliver(app, server, auth="none", timeout=2) -> tuple[OutboxMessage, list[SendLog]]:
    """Queue a letter through ``server``, run the worker until nothing is due, and return the
    letter and its send log."""
    letter_id = queue_through(app, server, auth, timeout)
    run_workers(app, once=True)
    with app.app_context():
        stored = db.session.get(OutboxMessage, letter_id)
        entries = list(db.session.scalars(
            select(SendLog).where(SendLog.outbox_id == letter_id).order_by(SendLog.id)))
        db.session.expunge_all()
    return stored, entries


@pytest.mark.parametrize("server", ["close_after_ehlo", "close_after_data", "half_reply_to_mail"])
def test_drop_before_the_final_dot_defers_the_letter(app, hostile, server):
    stored, [entry] = deliver(app, getattr(hostile, server))
    assert (stored.status, entry.status) == ("deferred", "deferred")
    assert "Ответ сервера: 25" not in stored.last_error  # half a reply is no verdict


def test_drop_after_auth_defers_the_letter(app, hostile):
    stored, [entry] = deliver(app, hostile.close_after_auth, auth="login")
    assert (stored.status, entry.status) == ("deferred", "deferred")
    assert "сервер неожиданно разорвал соединение" in stored.last_error


@pytest.mark.parametrize("server", ["close_after_dot", "half_reply_after_dot",
                                    "endless_after_dot"])
def test_drop_after_the_final_dot_is_possibly_sent_and_never_retried(app, hostile, server):
    endpoint = getattr(hostile, server)
    before = endpoint.script.letters
    stored, [entry] = deliver(app, endpoint, timeout=1)
    assert endpoint.script.letters == before + 1  # the letter's end did reach the server
    assert (stored.status, entry.status) == ("failed", "possibly_sent")
    assert stored.last_error.startswith("Письмо передано серверу целиком, но соединение "
                                        "прервалось до его ответа: письмо могло быть доставлено.")
    assert "Ответ сервера: 25" not in stored.last_error
    run_workers(app, once=True)  # nothing is due: never retried on its own
    assert endpoint.script.letters == before + 1
    with app.app_context():
        assert db.session.get(OutboxMessage, stored.id).status == "failed"


def test_deadline_in_the_middle_of_the_data_reply_is_possibly_sent_not_a_reply(app, hostile):
    server = hostile.stutter_after_dot
    stored, [entry] = deliver(app, server, timeout=2)
    assert (stored.status, entry.status) == ("failed", "possibly_sent")
    assert f"Сервер 127.0.0.1:{server.port} не ответил за 2 с." in stored.last_error
    assert "Ответ сервера" not in stored.last_error  # «25» of «250» is not a reply code


def test_endless_reply_fails_the_letter_with_a_clear_verdict(app, hostile):
    stored, [entry] = deliver(app, hostile.endless_ehlo)
    assert (stored.status, entry.status) == ("failed", "failed")
    assert stored.last_error.startswith(
        f"Ошибка SMTP: {TOO_LONG} (больше {MAX_REPLY_LINES} строк в одном ответе).")


def test_echoed_auth_line_is_masked_in_the_send_log_and_cli_json(app, hostile, runner):
    stored, [entry] = deliver(app, hostile.echo_plain, auth="login")
    assert stored.status == "failed"
    assert "Неверный логин или пароль." in stored.last_error
    output = runner.invoke(args=["smtp", "logs", "--json"]).output
    [row] = json.loads(output)
    assert row["id"] == stored.id and "***" in row["error"]
    shown = [stored.last_error, stored.last_reply or "", entry.error, entry.server_reply or "",
             output]
    for text in shown:
        assert PASSWORD not in text
        assert b64(f"\0{LOGIN}\0{PASSWORD}") not in text


# --- markup in a reply reaches the admin pages escaped ----------------------------------------

@pytest.fixture
def admin(client, users):
    login(client, users.admin)
    return client


def test_reply_with_script_is_escaped_in_the_check_result_and_the_list(app, admin, hostile):
    server = hostile.script
    token = csrf_token(admin, "/admin/smtp/accounts/new")
    fragment = admin.post("/admin/smtp/accounts/check", headers={"HX-Request": "true"}, data={
        "csrf_token": token, "active": "y", "sender_name": "Рассылка", "email": LOGIN,
        "host": server.host, "port": str(server.port), "security": "none", "auth": "none",
        "login": "", "timeout": "5", "action": "check"}).get_data(as_text=True)
    assert "Сервер отклонил адрес отправителя" in fragment
    assert "&lt;script&gt;alert(" in fragment
    assert "<script>alert(" not in fragment and "<b>denied" not in fragment

    with app.app_context():
        account_id = make_account(LOGIN, host=server.host, port=server.port, security="none",
                                  auth="none").id
    listing = admin.post("/admin/smtp/accounts/group", headers={"HX-Request": "true"}, data={
        "csrf_token": token, "action": "check", "ids": [account_id]}).get_data(as_text=True)
    page = admin.get("/admin/smtp/accounts").get_data(as_text=True)
    with app.app_context():
        stored = db.session.get(SmtpAccount, account_id)
        assert stored.last_check_code == "sender_refused"
        assert "<script>alert(" in stored.last_check_message  # kept as text, escaped when shown
    for html in (listing, page):
        assert "&lt;script&gt;alert(" in html
        assert "<script>alert(" not in html and "<b>denied" not in html
