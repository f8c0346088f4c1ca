"""Checking IMAP logins against a real Dovecot: every mode, UTF-8 passwords, the policy."""
from __future__ import annotations

import pytest

from portal_smtp.smtp import NetworkPolicy, SmtpSettings
from portal_smtp.smtp.imap import check_imap

LOGIN, PASSWORD = "anna@corp.example", "Пароль-ящика-7"


@pytest.fixture
def policy(dovecot, smtp):
    return NetworkPolicy.from_entries(
        allow=["127.0.0.1"], extra_ports=[dovecot.plain_port, dovecot.ssl_port, *smtp.ports])


@pytest.fixture(autouse=True)
def account(dovecot):
    dovecot.set_users({LOGIN: PASSWORD})


def imap(port, security, password=PASSWORD, **extra) -> SmtpSettings:
    values = {"timeout": 5} | extra
    return SmtpSettings(host="127.0.0.1", port=port, security=security, auth="login",
                        login=LOGIN, password=password, **values)


def test_imaps_login(dovecot, policy):
    result = check_imap(imap(dovecot.ssl_port, "ssl"), policy=policy)
    assert (result.ok, result.message) == (True, "Данные доступа верны!")


def test_starttls_login(dovecot, policy):
    assert check_imap(imap(dovecot.plain_port, "starttls"), policy=policy).ok


def test_plain_login(dovecot, policy):
    assert check_imap(imap(dovecot.plain_port, "none"), policy=policy).ok


def test_wrong_password(dovecot, policy):
    result = check_imap(imap(dovecot.ssl_port, "ssl", password="неверный"), policy=policy)
    assert result.code == "auth_failed"
    assert result.message.startswith("Неверный логин или пароль")
    assert "неверный" not in result.message.replace("Неверный", "")


def test_password_changed_on_the_server(dovecot, policy):
    assert check_imap(imap(dovecot.ssl_port, "ssl"), policy=policy).ok
    dovecot.set_password(LOGIN, "новый-пароль")
    assert check_imap(imap(dovecot.ssl_port, "ssl"), policy=policy).code == "auth_failed"


def test_ssl_on_the_starttls_port_is_a_tls_error(dovecot, policy):
    result = check_imap(imap(dovecot.plain_port, "ssl"), policy=policy)
    assert result.code == "tls"


def test_policy_applies_to_imap(dovecot):
    result = check_imap(imap(dovecot.ssl_port, "ssl"),
                        policy=NetworkPolicy(ports=frozenset({dovecot.ssl_port})))
    assert result.code == "blocked_host"


def test_refused_and_timeout(smtp, policy):
    assert check_imap(imap(smtp.closed.port, "ssl"), policy=policy).code == "refused"
    result = check_imap(imap(smtp.blackhole.port, "none", timeout=2), policy=policy)
    assert result.code == "timeout"


def test_starttls_missing_is_refused(smtp, policy):
    # An SMTP server greets with 220, not "* OK": the IMAP check says so instead of hanging.
    result = check_imap(imap(smtp.plain.port, "starttls"), policy=policy)
    assert not result.ok


def test_a_non_imap_server_is_named_in_plain_russian(smtp, policy):
    result = check_imap(imap(smtp.plain.port, "none"), policy=policy)
    assert result.code == "unexpected"
    assert result.message.startswith("Ошибка IMAP")
    assert "b'" not in result.message and "220" in result.message


def test_imap_ports_are_allowed_for_imap_logins_only():
    from portal_smtp.smtp.policy import IMAP_PORTS, BlockedTarget

    base = NetworkPolicy()
    with pytest.raises(BlockedTarget):
        base.check_port("imap.yandex.ru", 993)
    base.with_ports(IMAP_PORTS).check_port("imap.yandex.ru", 993)
    base.with_ports(IMAP_PORTS).check_port("imap.yandex.ru", 143)
