"""``flask smtp check``: one line of JSON with every result code, exit 0 only when ok."""
from __future__ import annotations

import json
import logging
import socket

import pytest

from .servers import REFUSED_RECIPIENT, REFUSED_SENDER, USERS

LOGIN = "user@example.com"


def run_check(runner, endpoint, *extra, password=USERS[LOGIN], security="none", auth="login"):
    args = ["smtp", "check", "--host", endpoint.host, "--port", str(endpoint.port),
            "--security", security, "--auth", auth, "--timeout", "3"]
    if auth != "none":
        args += ["--login", LOGIN, "--password-stdin"]
    result = runner.invoke(args=[*args, *extra], input=f"{password}\n")
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return result.exit_code, json.loads(lines[0]), result.output


@pytest.mark.parametrize(
    ("server", "security", "auth", "extra", "password", "code"),
    [
        ("plain", "none", "login", (), USERS[LOGIN], "ok"),
        ("starttls", "starttls", "login", (), USERS[LOGIN], "ok"),
        ("ssl", "ssl", "login", (), USERS[LOGIN], "ok"),
        ("closed", "none", "login", (), USERS[LOGIN], "refused"),
        ("blackhole", "none", "login", (), USERS[LOGIN], "timeout"),
        ("rogue", "ssl", "login", (), USERS[LOGIN], "tls"),
        ("plain", "starttls", "login", (), USERS[LOGIN], "starttls_unsupported"),
        ("plain", "none", "login", (), "wrong-password", "auth_failed"),
        ("noauth", "none", "login", (), USERS[LOGIN], "auth_unsupported"),
        ("plain", "none", "login", ("--from", REFUSED_SENDER), USERS[LOGIN], "sender_refused"),
        ("plain", "none", "login", ("--from", LOGIN, "--send-to", REFUSED_RECIPIENT),
         USERS[LOGIN], "recipient_refused"),
        ("refusing", "none", "none", (), "", "unexpected"),
    ],
)
def test_every_result_code(runner, smtp, server, security, auth, extra, password, code):
    exit_code, payload, output = run_check(
        runner, getattr(smtp, server), *extra, password=password, security=security, auth=auth
    )
    assert payload["code"] == code, payload
    assert payload["ok"] is (code == "ok")
    assert exit_code == (0 if code == "ok" else 1)
    assert set(payload) == {"ok", "code", "message"}
    assert password not in output or not password


def test_dns_code(runner, monkeypatch):
    real = socket.getaddrinfo

    def no_such_host(host, *args, **kwargs):
        if host.endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    result = runner.invoke(args=["smtp", "check", "--host", "mx.no-such.invalid", "--port",
                                 "587", "--auth", "none", "--from", LOGIN])
    payload = json.loads(result.output)
    assert (result.exit_code, payload["code"]) == (1, "dns")
    assert payload["message"].startswith("Сервер mx.no-such.invalid не найден")


def test_blocked_host_code(runner, smtp, app):
    app.extensions["portal_smtp"].policy = type(app.extensions["portal_smtp"].policy)()
    exit_code, payload, _ = run_check(runner, smtp.plain)
    assert (exit_code, payload["code"]) == (1, "blocked_host")


def test_send_to_delivers_the_test_letter(runner, smtp):
    exit_code, payload, _ = run_check(runner, smtp.starttls, "--from", LOGIN, "--send-to",
                                      "boss@example.com", security="starttls")
    assert exit_code == 0, payload
    [letter] = smtp.starttls.handler.received
    assert letter.message["Subject"] == "Проверка отправки почты"
    assert letter.rcpt_tos == ["boss@example.com"]


def test_invalid_input_is_reported_as_json(runner):
    result = runner.invoke(args=["smtp", "check", "--host", "bad host name!", "--auth", "none"])
    payload = json.loads(result.output)
    assert result.exit_code == 1
    assert payload["code"] == "invalid"
    assert "адрес почтового сервера" in payload["message"]


def test_password_never_reaches_output_or_logs(runner, smtp, caplog):
    secret = "Очень-Секретный-Пароль-42"
    caplog.set_level(logging.DEBUG)
    for server, security in (("plain", "none"), ("starttls", "starttls"), ("noauth", "none")):
        _, _, output = run_check(runner, getattr(smtp, server), password=secret,
                                 security=security)
        assert secret not in output
    assert secret not in caplog.text
