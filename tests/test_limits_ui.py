"""«Лимиты отправки» in the forms (SPEC §17): saved with the account after its check, Russian
errors for bad values, the use of the windows shown, the provider's defaults as hints."""
from __future__ import annotations

from datetime import timedelta

import pytest

from portal_smtp.extensions import db
from portal_smtp.models import MailProvider, SendUsage, SmtpAccount
from portal_smtp.services.providers import ProviderInput, save_provider
from portal_smtp.timeutil import utcnow

from .conftest import csrf_token, login
from .factories import make_account
from .servers import USERS
from .test_admin_accounts import LOGIN, form_data


@pytest.fixture
def admin(client, users):
    login(client, users.admin)
    return client


def test_limits_are_saved_with_a_checked_account(app, admin, smtp):
    token = csrf_token(admin, "/admin/smtp/accounts/new")
    response = admin.post("/admin/smtp/accounts/new", data=form_data(
        smtp.starttls, token, limit_minute="60", limit_day="5000", limit_letter="20"))
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        account = db.session.query(SmtpAccount).one()
        assert (account.limit_minute, account.limit_hour, account.limit_day,
                account.limit_letter) == (60, None, 5000, 20)


@pytest.mark.parametrize("value", ["0", "-1", "abc", str(10**9), "1.5"])
def test_bad_limits_are_refused_in_russian_and_nothing_is_saved(app, admin, smtp, value):
    token = csrf_token(admin, "/admin/smtp/accounts/new")
    response = admin.post("/admin/smtp/accounts/new",
                          data=form_data(smtp.starttls, token, limit_hour=value))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert any(text in page for text in ("Лимит — целое число от 1 до 1 000 000",
                                          "Введите целое число.", "Слишком большое число."))
    with app.app_context():
        assert db.session.query(SmtpAccount).count() == 0


def test_the_form_shows_the_use_of_the_windows_and_the_providers_defaults(app, admin, smtp):
    with app.app_context():
        save_provider(None, ProviderInput(
            name="Пример", imap_host="imap.example.com", imap_port=993, imap_security="ssl",
            smtp_host="smtp.example.com", smtp_port=465, smtp_security="ssl",
            domains=["example.com"], limits={"limit_day": 500}))
        account = make_account(LOGIN, host="127.0.0.1", port=smtp.plain.port,
                               security="none", password=USERS[LOGIN])
        now = utcnow()
        db.session.add_all([
            SendUsage(transport_type="account", transport_id=account.id, recipients=12,
                      used_at=now - timedelta(seconds=20)),
            SendUsage(transport_type="account", transport_id=account.id, recipients=300,
                      used_at=now - timedelta(hours=5)),
        ])
        db.session.commit()
        account_id = account.id
    page = admin.get(f"/admin/smtp/accounts/{account_id}").get_data(as_text=True)
    assert "Лимиты отправки" in page
    assert "Использовано сейчас: 12 за минуту,\n    12 за час, 312 за сутки." in page
    assert 'placeholder="по умолчанию у почтового сервиса: 500"' in page


def test_provider_defaults_are_saved_from_the_directory_form(app, admin):
    url = "/admin/smtp/providers/new"
    token = csrf_token(admin, url)
    response = admin.post(url, data={
        "csrf_token": token, "name": "Почта Пример", "active": "y",
        "imap_host": "imap.example.net", "imap_port": "993", "imap_security": "ssl",
        "smtp_host": "smtp.example.net", "smtp_port": "465", "smtp_security": "ssl",
        "login_format": "email", "auth_method": "basic", "domains": "example.net",
        "limit_day": "2000", "limit_letter": "35"})
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        provider = db.session.query(MailProvider).filter_by(name="Почта Пример").one()
        assert (provider.limit_day, provider.limit_letter, provider.limit_minute) == \
            (2000, 35, None)
