"""«Почта» over HTTP: connecting mailboxes with an IMAP check, the sending modal, access."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal_smtp import send_mail
from portal_smtp.extensions import db
from portal_smtp.models import Mailbox, MailboxSending
from portal_smtp.models.smtp_server import settings_for
from portal_smtp.services.crm import SmtpSenderInput
from portal_smtp.services.mailboxes import SendingInput, resolve_input
from portal_smtp.worker import run_workers

from .conftest import csrf_token, login
from .mail_fixtures import ADDRESS, PASSWORD
from .servers import USERS
from .test_outbox import letter


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(model.id)))


@pytest.fixture
def ivanov(client, users):
    login(client, users.ivanov)
    return client


def test_provider_is_detected_from_the_second_domain(ivanov, provider):
    fragment = ivanov.get("/mail/detect?email=boris@corp2.example").get_data(as_text=True)
    assert "Почтовый сервис определён: Тестовая почта." in fragment
    assert f'<option selected value="{provider}">' in fragment
    assert 'hx-swap-oob="true"' in fragment
    unknown = ivanov.get("/mail/detect?email=x@unknown.example").get_data(as_text=True)
    assert "не определён" in unknown


def test_yandex_and_others_ship_in_the_directory(ivanov):
    assert "Яндекс Почта" in ivanov.get("/mail/detect?email=a@ya.ru").get_data(as_text=True)
    assert "iCloud" in ivanov.get("/mail/detect?email=a@me.com").get_data(as_text=True)


def test_wrong_imap_password_connects_nothing(app, ivanov, provider):
    token = csrf_token(ivanov, "/mail/connect")
    response = ivanov.post("/mail/connect", data={
        "csrf_token": token, "email": ADDRESS, "password": "неверный", "provider_id": provider})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Неверный логин или пароль" in page and f'value="{ADDRESS}"' in page
    assert count(app, Mailbox) == 0


def test_mailbox_connects_after_the_imap_login(app, ivanov, provider):
    token = csrf_token(ivanov, "/mail/connect")
    response = ivanov.post("/mail/connect", data={
        "csrf_token": token, "email": ADDRESS, "password": PASSWORD, "provider_id": provider})
    assert response.status_code == 302
    page = ivanov.get("/mail/").get_data(as_text=True)
    assert f"Ящик {ADDRESS} подключён." in page and "Тестовая почта" in page
    with app.app_context():
        box = db.session.scalar(select(Mailbox))
        assert (box.imap_login, box.imap_password, box.provider_id) == (ADDRESS, PASSWORD,
                                                                        provider)
    again = ivanov.post("/mail/connect", data={
        "csrf_token": token, "email": ADDRESS, "password": PASSWORD, "provider_id": provider})
    assert "уже подключён" in again.get_data(as_text=True)


def test_manual_connection_without_a_provider(app, ivanov, provider, dovecot):
    token = csrf_token(ivanov, "/mail/connect")
    response = ivanov.post("/mail/connect", data={
        "csrf_token": token, "email": ADDRESS, "password": PASSWORD, "manual": "y",
        "imap_host": "127.0.0.1", "imap_port": dovecot.plain_port, "imap_security": "starttls"})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(Mailbox.provider_id)) is None


def modal_data(token, **changes):
    data = {"csrf_token": token, "enabled": "y", "auth_mode": "imap"}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_modal_opens_as_a_fragment_or_a_page(ivanov, mailbox):
    fragment = ivanov.get(f"/mail/{mailbox}/smtp", headers={"HX-Request": "true"})
    text = fragment.get_data(as_text=True)
    assert "Настройки для исходящих писем" in text and "<html" not in text
    assert "Отправлять через внешний SMTP" in text and "Тестовая почта" in text
    page = ivanov.get(f"/mail/{mailbox}/smtp").get_data(as_text=True)
    assert "<html" in page and "Настройка SMTP отправки" in page


def test_check_with_a_wrong_password_saves_nothing(app, ivanov, mailbox):
    token = csrf_token(ivanov, f"/mail/{mailbox}/smtp")
    fragment = ivanov.post(f"/mail/{mailbox}/smtp/check", headers={"HX-Request": "true"},
                           data=modal_data(token, auth_mode="custom", login=ADDRESS,
                                           password="неверный")).get_data(as_text=True)
    assert "Неверный логин или пароль" in fragment
    saved = ivanov.post(f"/mail/{mailbox}/smtp", headers={"HX-Request": "true"},
                        data=modal_data(token, auth_mode="custom", login=ADDRESS,
                                        password="неверный"))
    assert saved.status_code == 422
    assert "Неверный логин или пароль" in saved.get_data(as_text=True)
    assert count(app, MailboxSending) == 0


def test_provider_mailbox_needs_only_the_toggle(app, ivanov, mailbox, smtp):
    token = csrf_token(ivanov, f"/mail/{mailbox}/smtp")
    check = ivanov.post(f"/mail/{mailbox}/smtp/check", headers={"HX-Request": "true"},
                        data=modal_data(token)).get_data(as_text=True)
    assert "Данные доступа верны!" in check and count(app, MailboxSending) == 0
    saved = ivanov.post(f"/mail/{mailbox}/smtp", headers={"HX-Request": "true"},
                        data=modal_data(token))
    assert saved.headers["HX-Trigger"] == "closeModal"
    assert saved.headers["HX-Retarget"] == "#mailboxes"
    assert "Через внешний SMTP" in saved.get_data(as_text=True)
    with app.app_context():
        sending = db.session.scalar(select(MailboxSending))
        assert sending.use_provider and sending.last_check_ok


def test_reopened_modal_shows_the_last_check_and_rechecks(app, ivanov, mailbox, smtp):
    token = csrf_token(ivanov, f"/mail/{mailbox}/smtp")
    ivanov.post(f"/mail/{mailbox}/smtp", data=modal_data(token))
    modal = ivanov.get(f"/mail/{mailbox}/smtp", headers={"HX-Request": "true"}).get_data(
        as_text=True)
    assert "Последняя проверка только что —" in modal and "Успешно" in modal
    assert f'hx-post="/mail/{mailbox}/smtp/recheck" hx-trigger="load"' in modal
    ok = ivanov.post(f"/mail/{mailbox}/smtp/recheck", data={"csrf_token": token},
                     headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Отправка почты с текущими настройками работает корректно!" in ok
    USERS[ADDRESS] = "пароль-сменили"
    failed = ivanov.post(f"/mail/{mailbox}/smtp/recheck", data={"csrf_token": token},
                         headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Неверный логин или пароль" in failed
    with app.app_context():
        assert db.session.scalar(select(MailboxSending.last_check_ok)) is False


def test_disable_removes_the_sending_settings(app, ivanov, mailbox):
    token = csrf_token(ivanov, f"/mail/{mailbox}/smtp")
    ivanov.post(f"/mail/{mailbox}/smtp", data=modal_data(token))
    assert count(app, MailboxSending) == 1
    response = ivanov.post(f"/mail/{mailbox}/smtp/disable", data={"csrf_token": token})
    assert response.status_code == 302
    assert count(app, MailboxSending) == 0
    assert "отключена" in ivanov.get("/mail/").get_data(as_text=True)


def test_deleting_a_mailbox_asks_first_and_removes_its_settings(app, ivanov, mailbox):
    token = csrf_token(ivanov, f"/mail/{mailbox}/smtp")
    ivanov.post(f"/mail/{mailbox}/smtp", data=modal_data(token))
    confirm = ivanov.get(f"/mail/{mailbox}/delete").get_data(as_text=True)
    assert f"Удалить ящик {ADDRESS}?" in confirm
    assert count(app, Mailbox) == 1
    ivanov.post(f"/mail/{mailbox}/delete", data={"csrf_token": token})
    assert count(app, Mailbox) == 0 and count(app, MailboxSending) == 0


def test_letters_from_the_mailbox_go_through_its_smtp(app, ivanov, mailbox, smtp):
    token = csrf_token(ivanov, f"/mail/{mailbox}/smtp")
    ivanov.post(f"/mail/{mailbox}/smtp", data=modal_data(token))
    with app.app_context():
        box = db.session.get(Mailbox, mailbox)
        send_mail(letter(sender=f"Анна <{ADDRESS}>"), sender=box)
    run_workers(app, once=True)
    [received] = smtp.starttls.handler.received
    assert received.login == ADDRESS and received.mail_from == ADDRESS


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/smtp"), ("POST", "/smtp"), ("POST", "/smtp/check"), ("POST", "/smtp/disable"),
    ("POST", "/smtp/recheck"), ("GET", "/delete"), ("POST", "/delete")])
def test_another_users_mailbox_is_404(client, users, mailbox, method, path):
    login(client, users.petrova)
    token = csrf_token(client, "/")
    response = client.open(f"/mail/{mailbox}{path}", method=method,
                           data={"csrf_token": token})
    assert response.status_code == 404


def test_check_is_rate_limited_per_user(ivanov, mailbox):
    token = csrf_token(ivanov, f"/mail/{mailbox}/smtp")
    statuses = [ivanov.post(f"/mail/{mailbox}/smtp/check",
                            data={"csrf_token": token, "auth_mode": "custom"}).status_code
                for _ in range(21)]
    assert statuses[:20] == [200] * 20 and statuses[20] == 429


def test_connecting_checks_imap_under_the_imap_ports(app, ivanov, provider, monkeypatch):
    from portal_smtp.services import mailboxes
    from portal_smtp.smtp import CheckResult

    seen = []

    def record_policy(settings, *, policy):
        seen.append(policy)
        return CheckResult(False, "dns", "Сервер imap.example не найден.")

    monkeypatch.setattr(mailboxes, "check_imap", record_policy)
    with app.app_context():
        from portal_smtp.services.providers import detect_provider

        yandex = detect_provider("a@ya.ru").id
    token = csrf_token(ivanov, "/mail/connect")
    ivanov.post("/mail/connect", data={"csrf_token": token, "email": "a@ya.ru",
                                       "password": "x", "provider_id": str(yandex)})
    [policy] = seen
    assert {143, 993} <= policy.ports
    assert 993 not in app.extensions["portal_smtp"].policy.ports  # SMTP stays as it was


def test_saving_with_the_toggle_off_keeps_the_input_and_says_why(app, ivanov, mailbox):
    token = csrf_token(ivanov, f"/mail/{mailbox}/smtp")
    response = ivanov.post(f"/mail/{mailbox}/smtp", headers={"HX-Request": "true"},
                           data={"csrf_token": token, "auth_mode": "imap"})
    assert response.status_code == 422
    assert "Отметьте «Отправлять через внешний SMTP»" in response.get_data(as_text=True)
    assert count(app, MailboxSending) == 0


def test_recheck_after_the_settings_were_removed_is_calm(ivanov, mailbox):
    token = csrf_token(ivanov, f"/mail/{mailbox}/smtp")
    response = ivanov.post(f"/mail/{mailbox}/smtp/recheck", data={"csrf_token": token},
                           headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "Отправка не настроена." in response.get_data(as_text=True)


@pytest.mark.parametrize(("port", "secure", "expected"), [
    (None, True, (465, "ssl")), (465, True, (465, "ssl")), (587, True, (587, "starttls")),
    (2525, True, (2525, "starttls")), (None, False, (25, "none")), (587, False, (587, "none")),
])
def test_secure_checkbox_means_the_same_for_mailboxes_and_crm_senders(app, mailbox, port, secure,
                                                                       expected):
    # One rule for «Использовать защищённое соединение»: a blank port is 465 with SSL/TLS.
    with app.app_context():
        box = db.session.get(Mailbox, mailbox)
        values = resolve_input(box, SendingInput(host="smtp.corp.example", port=port,
                                                 secure=secure, auth_mode="none"))
        from_mailbox = settings_for(values)
        from_crm = settings_for(SmtpSenderInput(name="", email=ADDRESS, shared=False,
                                                host="smtp.corp.example", port=port,
                                                secure=secure, login=""))
    assert (from_mailbox.port, from_mailbox.security.value) == expected
    assert from_crm == from_mailbox
