"""«Лимиты отправки» in the forms (SPEC §17): saved with the account after its check (a failed
check saves none of them), Russian errors for bad values, the use of the windows and the
provider's defaults shown, the mailbox modal, the directory and its shipped defaults."""
from __future__ import annotations

import json
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from portal_smtp.extensions import db
from portal_smtp.models import CrmSender, Mailbox, MailboxSending, MailProvider, SmtpAccount
from portal_smtp.providers_seed import PROVIDER_LIMITS, seed_limits
from portal_smtp.services import limits
from portal_smtp.services.limits import Limits
from portal_smtp.services.providers import ProviderInput, save_provider
from portal_smtp.timeutil import utcnow

from .conftest import csrf_token, login
from .factories import make_account
from .mail_fixtures import ADDRESS
from .servers import USERS
from .test_admin_accounts import LOGIN, form_data

NBSP = "\u00a0"
ACCOUNTS = "/admin/smtp/accounts"


@pytest.fixture
def admin(client, users):
    login(client, users.admin)
    return client


@pytest.fixture
def ivanov(client, users):
    login(client, users.ivanov)
    return client


def example_provider(**limit_values) -> MailProvider:
    """«Пример» on example.com — the domain of the test SMTP servers' user (in a context)."""
    provider = save_provider(None, ProviderInput(
        name="Пример", imap_host="imap.example.com", imap_port=993, imap_security="ssl",
        smtp_host="smtp.example.com", smtp_port=465, smtp_security="ssl",
        domains=["example.com"], limits=limit_values))
    db.session.commit()
    return provider


class _Inputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, dict[str, str | None]] = {}

    def handle_starttag(self, tag, attrs) -> None:
        attributes = dict(attrs)
        if tag == "input" and attributes.get("name"):
            self.found[attributes["name"]] = attributes


def field(page: str, name: str) -> dict[str, str | None]:
    """The attributes of the page's input ``name``."""
    parser = _Inputs()
    parser.feed(page)
    return parser.found[name]


def stored_limits(obj) -> tuple:
    return (obj.limit_minute, obj.limit_hour, obj.limit_day, obj.limit_letter)


# --- the admin account form -----------------------------------------------------------------

def test_limits_are_saved_with_a_checked_account(app, admin, smtp):
    token = csrf_token(admin, f"{ACCOUNTS}/new")
    response = admin.post(f"{ACCOUNTS}/new", data=form_data(
        smtp.starttls, token, limit_minute="60", limit_hour="", limit_day=f"5{NBSP}000",
        limit_letter=" 20 "))
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        account = db.session.query(SmtpAccount).one()
        assert stored_limits(account) == (60, None, 5000, 20)
    listing = admin.get(ACCOUNTS).get_data(as_text=True)
    assert f"60/мин · 5{NBSP}000/сут · 20/письмо" in listing
    assert (f'title="Лимиты отправки, получателей: 60 в минуту, 5{NBSP}000 в сутки, 20 в одном '
            'письме"') in listing


@pytest.mark.parametrize(("value", "message"), [
    ("0", "Лимит — целое число от 1 до 1 000 000; пусто — без лимита."),
    ("-1", "Лимит — целое число от 1 до 1 000 000; пусто — без лимита."),
    (str(10**9), "Лимит — целое число от 1 до 1 000 000; пусто — без лимита."),
    (str(10**30), "Слишком большое число."),
    ("abc", "Введите целое число."),
    ("1.5", "Введите целое число."),
    ("1 0", "Введите целое число."),
])
def test_bad_limits_are_refused_in_russian_and_nothing_is_saved(app, admin, smtp, value,
                                                                 message):
    token = csrf_token(admin, f"{ACCOUNTS}/new")
    response = admin.post(f"{ACCOUNTS}/new",
                          data=form_data(smtp.starttls, token, limit_hour=value))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in page
    assert f'value="{value}"' in page  # the input is kept to be corrected
    assert not smtp.starttls.handler.received  # refused before any check
    with app.app_context():
        assert db.session.query(SmtpAccount).count() == 0


def test_check_button_reports_a_bad_limit_too(admin, smtp):
    token = csrf_token(admin, f"{ACCOUNTS}/new")
    fragment = admin.post(f"{ACCOUNTS}/check", headers={"HX-Request": "true"},
                          data=form_data(smtp.starttls, token, limit_day="0"))
    text = fragment.get_data(as_text=True)
    assert fragment.status_code == 200
    assert "Получателей в сутки: Лимит — целое число от 1 до 1 000 000" in text


def test_a_failed_check_saves_no_limit_and_a_passing_one_can_clear_them(app, admin, smtp):
    with app.app_context():
        account = make_account(LOGIN, host="127.0.0.1", port=smtp.starttls.port,
                               security="starttls", password=USERS[LOGIN], commit=False)
        account.limit_minute, account.limit_day = 10, 100
        db.session.commit()
        url = f"{ACCOUNTS}/{account.id}"
    token = csrf_token(admin, url)
    refused = admin.post(url, data=form_data(smtp.starttls, token, password="неверный",
                                             limit_minute="99", limit_day="999"))
    assert refused.status_code == 422 and "Неверный логин или пароль" in refused.get_data(
        as_text=True)
    with app.app_context():
        assert stored_limits(db.session.query(SmtpAccount).one()) == (10, None, 100, None)
    saved = admin.post(url, data=form_data(smtp.starttls, token, limit_minute="",
                                           limit_day="200", action="apply"))
    assert saved.status_code == 302
    with app.app_context():
        assert stored_limits(db.session.query(SmtpAccount).one()) == (None, None, 200, None)
    page = admin.get(url).get_data(as_text=True)
    assert field(page, "limit_day")["value"] == "200"


def test_the_form_shows_the_use_of_the_windows_and_the_providers_defaults(app, admin, smtp):
    now = utcnow()
    with app.app_context():
        example_provider(limit_day=500, limit_letter=35)
        account = make_account(LOGIN, host="127.0.0.1", port=smtp.plain.port,
                               security="none", password=USERS[LOGIN])
        account_id = account.id
        # Reservations as the worker makes them, in the database.
        connection = db.session.connection()
        wide = Limits(day=10**6)
        limits.reserve(connection, "account", account_id, [12], wide, now - timedelta(seconds=20))
        limits.reserve(connection, "account", account_id, [1200], wide, now - timedelta(hours=5))
        limits.reserve(connection, "mailbox", account_id, [7], wide, now)  # another transport
        db.session.commit()
        # Its own value wins; the provider's default fills the rest.
        assert limits.limits_of("account", account) == Limits(day=500, letter=35)
        account.limit_day = 100
        assert limits.limits_of("account", account) == Limits(day=100, letter=35)
        db.session.rollback()
    page = admin.get(f"{ACCOUNTS}/{account_id}").get_data(as_text=True)
    assert "Лимиты отправки" in page
    assert f"Использовано: 12 за минуту, 12 за час, 1{NBSP}212 за сутки" in page
    day, letter = field(page, "limit_day"), field(page, "limit_letter")
    assert (day["placeholder"], day["title"]) == ("по умолчанию: 500",
                                                  "По умолчанию для «Пример»: 500 в сутки")
    assert letter["placeholder"] == "по умолчанию: 35"
    assert ("Где поле пусто, действует лимит почтового сервиса «Пример»: 500 в сутки, 35 в "
            "одном письме.") in page
    assert "placeholder" not in field(page, "limit_minute")  # no default, no hint


def test_a_new_account_form_shows_the_defaults_of_the_typed_address(app, admin, smtp):
    with app.app_context():
        example_provider(limit_day=500)
    token = csrf_token(admin, f"{ACCOUNTS}/new")
    assert "по умолчанию для" not in admin.get(f"{ACCOUNTS}/new").get_data(as_text=True)
    refused = admin.post(f"{ACCOUNTS}/new", data=form_data(smtp.starttls, token,
                                                          password="неверный"))
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert field(page, "limit_day")["title"] == "По умолчанию для «Пример»: 500 в сутки"
    assert "Использовано:" not in page  # nothing saved, nothing used
    for junk in ("не адрес", "a@\x00.example", "x@" + "д" * 300):
        response = admin.post(f"{ACCOUNTS}/new", data=form_data(smtp.starttls, token,
                                                               email=junk))
        assert response.status_code == 422


# --- the mailbox modal ----------------------------------------------------------------------

def modal_data(token, **changes):
    data = {"csrf_token": token, "enabled": "y", "auth_mode": "imap"}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_the_mailbox_modal_checks_and_saves_its_limits(app, ivanov, mailbox, smtp):
    url = f"/mail/{mailbox}/smtp"
    hx = {"HX-Request": "true"}
    token = csrf_token(ivanov, url)
    bad = ivanov.post(f"{url}/check", headers=hx, data=modal_data(token, limit_hour="-1"))
    assert "Получателей в час: Лимит — целое число от 1 до 1 000 000" in bad.get_data(
        as_text=True)
    refused = ivanov.post(url, headers=hx, data=modal_data(token, limit_hour="abc"))
    assert refused.status_code == 422 and "Введите целое число." in refused.get_data(
        as_text=True)
    checked = ivanov.post(f"{url}/check", headers=hx,
                          data=modal_data(token, limit_minute="30", limit_letter="10"))
    assert "Данные доступа верны!" in checked.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(MailboxSending).count() == 0  # «Проверить» saves nothing
    saved = ivanov.post(url, headers=hx, data=modal_data(token, limit_minute="30",
                                                         limit_letter="10"))
    assert saved.headers["HX-Trigger"] == "closeModal"
    with app.app_context():
        sending = db.session.scalar(select(MailboxSending))
        assert stored_limits(sending) == (30, None, None, 10)
        box = db.session.get(Mailbox, mailbox)
        assert limits.limits_of("mailbox", box) == Limits(minute=30, letter=10)
        limits.reserve(db.session.connection(), "mailbox", mailbox, [3], Limits(minute=30),
                       utcnow())
        db.session.commit()
    modal = ivanov.get(url, headers=hx).get_data(as_text=True)
    assert "Использовано: 3 за минуту, 3 за час, 3 за сутки" in modal
    assert field(modal, "limit_minute")["value"] == "30"
    assert "limits-instead" not in modal  # it sends through its own server now


def test_the_modal_shows_the_providers_defaults(app, ivanov, mailbox):
    with app.app_context():
        db.session.get(Mailbox, mailbox).provider.limit_day = 300
        db.session.commit()
    modal = ivanov.get(f"/mail/{mailbox}/smtp").get_data(as_text=True)
    assert field(modal, "limit_day")["title"] == "По умолчанию для «Тестовая почта»: 300 в сутки"
    assert "Использовано:" not in modal  # no own sending yet


def test_a_mailbox_without_its_own_sending_says_whose_limits_apply(app, ivanov, mailbox):
    url = f"/mail/{mailbox}/smtp"
    unproven = ivanov.get(url).get_data(as_text=True)
    assert "Ящик пока не может отправлять письма. Адрес anna@corp.example не подтверждён" in \
        unproven
    with app.app_context():
        db.session.get(Mailbox, mailbox).address_proof = "code"
        account = make_account(ADDRESS, commit=False)
        account.limit_day = 1500
        db.session.commit()
    modal = ivanov.get(url).get_data(as_text=True)
    assert ("Собственная отправка не настроена: письма ящика уходят через SMTP-аккаунт "
            f"портала, и действуют его лимиты: 1{NBSP}500 в сутки.") in modal
    with app.app_context():
        db.session.query(SmtpAccount).one().limit_day = None
        db.session.commit()
    assert "SMTP-аккаунт портала, и у него лимитов нет." in ivanov.get(url).get_data(
        as_text=True)


def test_an_offered_crm_sender_lends_its_limits_and_keeps_them(app, ivanov, users, mailbox,
                                                               smtp):
    with app.app_context():
        sender = CrmSender(user_id=users.ivanov.id, email=ADDRESS, email_normalized=ADDRESS,
                           has_smtp=True, smtp_host="127.0.0.1", smtp_port=smtp.starttls.port,
                           smtp_security="starttls", smtp_login="", limit_hour=70,
                           limit_letter=5)
        db.session.add(sender)
        db.session.commit()
    url = f"/mail/{mailbox}/smtp"
    modal = ivanov.get(url).get_data(as_text=True)
    assert field(modal, "limit_hour")["value"] == "70"
    token = csrf_token(ivanov, url)
    saved = ivanov.post(url, data=modal_data(token, limit_hour="40"))
    assert saved.status_code == 302
    with app.app_context():
        assert stored_limits(db.session.scalar(select(MailboxSending))) == (None, 40, None,
                                                                              None)
        assert stored_limits(db.session.scalar(select(CrmSender))) == (None, 70, None, 5)


# --- the providers directory ----------------------------------------------------------------

def provider_form(token, **changes):
    data = {"csrf_token": token, "name": "Почта Пример", "active": "y",
            "imap_host": "imap.example.net", "imap_port": "993", "imap_security": "ssl",
            "smtp_host": "smtp.example.net", "smtp_port": "465", "smtp_security": "ssl",
            "login_format": "email", "auth_method": "basic", "domains": "example.net"}
    data.update(changes)
    return data


def test_provider_defaults_are_saved_from_the_directory_form(app, admin):
    url = "/admin/smtp/providers/new"
    token = csrf_token(admin, url)
    refused = admin.post(url, data=provider_form(token, limit_day="0"))
    assert refused.status_code == 422 and "Лимит — целое число от 1 до 1 000 000" in \
        refused.get_data(as_text=True)
    response = admin.post(url, data=provider_form(token, limit_day="2000", limit_letter="35"))
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        provider = db.session.query(MailProvider).filter_by(name="Почта Пример").one()
        assert stored_limits(provider) == (None, None, 2000, 35)
        edit = f"/admin/smtp/providers/{provider.id}"
    page = admin.get(edit).get_data(as_text=True)
    assert field(page, "limit_day")["value"] == "2000"
    assert "Значения по умолчанию для ящиков этого сервиса" in page
    admin.post(edit, data=provider_form(token, limit_minute="20", limit_day="",
                                        limit_letter=""))
    with app.app_context():
        assert stored_limits(db.session.query(MailProvider).filter_by(
            name="Почта Пример").one()) == (20, None, None, None)


def test_the_shipped_defaults_fill_only_providers_nobody_edited(app):
    with app.app_context():
        gmail = db.session.query(MailProvider).filter_by(name="Gmail").one()
        gmail.limit_minute = 5  # an administrator's value
        db.session.commit()
        assert seed_limits(db.session.connection()) == len(PROVIDER_LIMITS) - 1
        assert seed_limits(db.session.connection()) == 0  # idempotent
        db.session.commit()
        by_name = {p.name: stored_limits(p) for p in db.session.query(MailProvider)}
        assert by_name["Яндекс Почта"] == (None, None, 500, 35)
        assert by_name["iCloud"] == (None, None, 1000, 500)
        assert by_name["Gmail"] == (5, None, None, None)
        assert by_name["Почта Mail.ru"] == (None, None, None, None)
        # A Yandex address takes the default, as the worker will see it.
        account = make_account("sales@yandex.ru")
        assert limits.limits_for("account", account.id) == Limits(day=500, letter=35)


def test_cli_lists_the_limits(app, runner, smtp):
    with app.app_context():
        account = make_account(LOGIN, commit=False)
        account.limit_hour = 80
        db.session.commit()
    [row] = json.loads(runner.invoke(args=["smtp", "accounts", "list", "--json"]).output)
    assert (row["limit_minute"], row["limit_hour"], row["limit_day"], row["limit_letter"]) == (
        None, 80, None, None)
