"""SPEC §3 through the Python engine: every result code against real servers on loopback."""
from __future__ import annotations

import socket
import time

import pytest

from portal_smtp.smtp import NetworkPolicy, SmtpSettings, check
from portal_smtp.smtp.check import TEST_SUBJECT

from .servers import REFUSED_RECIPIENT, REFUSED_SENDER, TOKENS, USERS

LOGIN = "user@example.com"
PASSWORD = USERS[LOGIN]  # Cyrillic: proves UTF-8 credentials


@pytest.fixture
def policy(smtp):
    return NetworkPolicy.from_entries(allow=["127.0.0.1", "::1"], extra_ports=smtp.ports)


def settings_for(endpoint, security="none", auth="login", **extra) -> SmtpSettings:
    values = {"host": endpoint.host, "login": LOGIN, "password": PASSWORD, "timeout": 5} | extra
    if auth == "none":
        values.pop("login"), values.pop("password")
    return SmtpSettings(port=endpoint.port, security=security, auth=auth, **values)


def run(settings, policy, **kwargs):
    kwargs.setdefault("sender", LOGIN)
    return check(settings, policy=policy, **kwargs)


@pytest.mark.parametrize(
    ("server", "security"), [("plain", "none"), ("starttls", "starttls"), ("ssl", "ssl")]
)
def test_valid_credentials_pass_in_every_security_mode(smtp, policy, server, security):
    result = run(settings_for(getattr(smtp, server), security), policy)
    assert (result.ok, result.code) == (True, "ok")
    assert result.message == "Данные доступа верны!"


def test_check_stops_at_354_and_delivers_nothing(smtp, policy):
    result = run(settings_for(smtp.plain), policy)
    assert result.ok
    time.sleep(0.2)
    assert smtp.plain.handler.received == []


def test_test_letter_really_arrives(smtp, policy):
    result = run(settings_for(smtp.ssl, "ssl"), policy, recipient="boss@example.com",
                 send_test_letter=True, label="Рассылка")
    assert result.ok, result.message
    assert "Тестовое письмо отправлено на boss@example.com" in result.message
    [letter] = smtp.ssl.handler.received
    assert letter.rcpt_tos == ["boss@example.com"]
    assert letter.message["Subject"] == TEST_SUBJECT
    assert "Рассылка" in letter.message.get_body().get_content()
    assert letter.login == LOGIN


def test_cyrillic_password_authenticates_with_cram_md5(smtp, policy):
    result = run(settings_for(smtp.cram), policy)
    assert result.code == "ok", result.message


def test_ascii_only_server_login_still_works_with_plain_password(smtp, policy):
    login = "ascii@example.com"
    settings = settings_for(smtp.plain, login=login, password=USERS[login])
    assert run(settings, policy, sender="ascii@example.com").ok


def test_xoauth2_with_access_token(smtp, policy):
    good = settings_for(smtp.starttls, "starttls", auth="xoauth2", password=TOKENS[LOGIN])
    assert run(good, policy).code == "ok"
    bad = settings_for(smtp.starttls, "starttls", auth="xoauth2", password="expired-token")
    result = run(bad, policy)
    assert result.code == "auth_failed"
    assert "expired-token" not in result.message


def test_no_auth_server_with_auth_none(smtp, policy):
    assert run(settings_for(smtp.noauth, auth="none"), policy).code == "ok"


def test_ehlo_uses_a_real_name_never_localhost_localdomain(smtp, policy):
    run(settings_for(smtp.plain), policy)
    [name] = smtp.plain.handler.ehlo_names
    assert name != "localhost.localdomain"
    assert "." in name or name.startswith("[")


def test_configured_ehlo_name_is_used(smtp, policy):
    check(settings_for(smtp.plain), policy=policy, sender=LOGIN,
          ehlo_hostname="portal.corp.example")
    assert smtp.plain.handler.ehlo_names == ["portal.corp.example"]


def test_dns_failure():
    def resolver(host, port):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    settings = SmtpSettings(host="no-such-host.invalid", port=587, security="starttls",
                            auth="none", timeout=5)
    result = check(settings, sender=LOGIN, policy=NetworkPolicy(), resolver=resolver)
    assert result.code == "dns"
    assert result.message.startswith("Сервер no-such-host.invalid не найден")


def test_refused_connection(smtp, policy):
    result = run(settings_for(smtp.closed), policy)
    assert result.code == "refused"
    assert result.message.startswith("Не удалось подключиться к серверу 127.0.0.1:")


def test_server_that_never_greets_times_out_within_the_deadline(smtp, policy):
    started = time.monotonic()
    result = run(settings_for(smtp.blackhole, timeout=2), policy)
    elapsed = time.monotonic() - started
    assert result.code == "timeout"
    assert result.message.startswith(f"Сервер 127.0.0.1:{smtp.blackhole.port} не ответил за 2 с")
    assert elapsed < 3


def test_trickling_server_is_cut_off_at_the_timeout(smtp, policy):
    started = time.monotonic()
    result = run(settings_for(smtp.trickle, timeout=2), policy)
    assert result.code == "timeout"
    assert time.monotonic() - started < 3


def test_untrusted_certificate_is_a_tls_error(smtp, policy):
    result = run(settings_for(smtp.rogue, "ssl"), policy)
    assert result.code == "tls"
    assert result.message.startswith("Ошибка защищённого соединения")
    assert "сертификат" in result.message


def test_certificate_check_can_be_turned_off_per_account(smtp, policy):
    result = run(settings_for(smtp.rogue, "ssl", verify_tls=False), policy)
    assert result.code == "ok"


def test_ssl_against_a_plaintext_server_is_a_tls_error(smtp, policy):
    result = run(settings_for(smtp.plain, "ssl"), policy)
    assert result.code == "tls"


def test_port_mixup_hints():
    from portal_smtp.smtp.check import _port_hint

    assert "SSL/TLS" in _port_hint(SmtpSettings(host="a.example", port=465, security="starttls",
                                                auth="none"))
    assert "STARTTLS" in _port_hint(SmtpSettings(host="a.example", port=587, security="ssl",
                                                 auth="none"))
    assert _port_hint(SmtpSettings(host="a.example", port=465, security="ssl", auth="none")) == ""


def test_starttls_is_never_silently_skipped(smtp, policy):
    result = run(settings_for(smtp.plain, "starttls"), policy)
    assert result.code == "starttls_unsupported"
    assert result.message.startswith("Сервер не поддерживает STARTTLS")
    assert smtp.plain.handler.received == []


def test_wrong_password(smtp, policy):
    result = run(settings_for(smtp.starttls, "starttls", password="неверный-пароль"), policy)
    assert result.code == "auth_failed"
    assert result.message.startswith("Неверный логин или пароль")
    assert "535" in result.message
    assert "неверный-пароль" not in result.message


def test_server_without_auth_and_login_requested(smtp, policy):
    result = run(settings_for(smtp.noauth), policy)
    assert result.code == "auth_unsupported"
    assert result.message.startswith("Сервер не поддерживает авторизацию")


def test_sender_refused(smtp, policy):
    result = run(settings_for(smtp.plain), policy, sender=REFUSED_SENDER)
    assert result.code == "sender_refused"
    assert result.message.startswith(f"Сервер отклонил адрес отправителя {REFUSED_SENDER}")
    assert "550 5.7.1" in result.message


def test_recipient_refused(smtp, policy):
    result = run(settings_for(smtp.plain), policy, recipient=REFUSED_RECIPIENT)
    assert result.code == "recipient_refused"
    assert "получателя" in result.message and "550 5.1.1" in result.message


def test_policy_blocks_loopback_unless_allowed(smtp):
    result = run(settings_for(smtp.plain), NetworkPolicy(ports=frozenset({smtp.plain.port})))
    assert result.code == "blocked_host"
    assert result.message.startswith("Подключение к этому адресу запрещено")
    assert smtp.plain.handler.ehlo_names == []


def test_unexpected_greeting(smtp, policy):
    result = run(settings_for(smtp.refusing), policy)
    assert result.code == "unexpected"
    assert result.message.startswith("Ошибка SMTP")
    assert "554 5.3.2" in result.message


def test_idn_host_goes_out_as_punycode_and_tls_verifies_it(smtp, policy):
    seen = []

    def resolver(host, port):
        seen.append(host)
        return [(socket.AF_INET, ("127.0.0.1", port))]

    settings = settings_for(smtp.starttls, "starttls", host="почта.рф")
    result = check(settings, sender=LOGIN, policy=policy, resolver=resolver)
    assert seen == ["xn--80a1acny.xn--p1ai"]
    assert result.code == "ok", result.message


def test_resolved_address_is_judged_not_the_name(smtp):
    """A public-looking name that resolves to loopback is refused before any connection."""
    def resolver(host, port):
        return [(socket.AF_INET, ("127.0.0.1", port))]

    settings = settings_for(smtp.plain, host="mail.example.com")
    result = check(settings, sender=LOGIN, resolver=resolver,
                   policy=NetworkPolicy(ports=frozenset({smtp.plain.port})))
    assert result.code == "blocked_host"
    assert smtp.plain.handler.ehlo_names == []
