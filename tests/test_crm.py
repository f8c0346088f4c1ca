"""The CRM composer and senders over HTTP (SPEC §8)."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from portal_smtp.extensions import db
from portal_smtp.models import CrmSender, OutboxMessage
from portal_smtp.portal.models import CrmActivity, CrmEntity
from portal_smtp.worker import run_workers

from .conftest import csrf_token, login
from .factories import make_account
from .servers import USERS

LOGIN = "user@example.com"


@pytest.fixture
def app_config(app_config):
    app_config.update(SMTP_SYSTEM_FROM="Портал <noreply@example.com>")
    return app_config


@pytest.fixture
def deal(app, users, smtp):
    with app.app_context():
        make_account("noreply@example.com", "Портал", host="127.0.0.1", port=smtp.plain.port,
                     security="none", auth="none", login="")
        item = CrmEntity(kind="deal", title="Поставка", email="client@example.org",
                         owner_id=users.ivanov.id)
        db.session.add(item)
        db.session.commit()
        return item.id


@pytest.fixture
def ivanov(client, users):
    login(client, users.ivanov)
    return client


def smtp_sender_form(token, endpoint, password=USERS[LOGIN], **extra):
    return {"csrf_token": token, "action": "smtp", "name": "Отдел продаж", "email": LOGIN,
            "host": endpoint.host, "port": str(endpoint.port), "login": LOGIN,
            "password": password, **extra}


def senders(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(CrmSender.id)))


def test_smtp_sender_is_saved_only_after_a_passing_check(app, ivanov, deal, smtp):
    token = csrf_token(ivanov, f"/crm/senders/new?back=/crm/{deal}")
    bad = ivanov.post(f"/crm/senders/new?back=/crm/{deal}",
                      data=smtp_sender_form(token, smtp.plain, "неверный"))
    assert bad.status_code == 422
    assert "Неверный логин или пароль" in bad.get_data(as_text=True)
    assert senders(app) == 0
    good = ivanov.post(f"/crm/senders/new?back=/crm/{deal}",
                       data=smtp_sender_form(token, smtp.plain))
    assert good.status_code == 302 and good.headers["Location"] == f"/crm/{deal}"
    assert senders(app) == 1


def test_letter_from_the_deal_goes_out_and_shows_in_the_timeline(app, ivanov, deal, smtp):
    token = csrf_token(ivanov, f"/crm/{deal}")
    ivanov.post("/crm/senders/new", data=smtp_sender_form(token, smtp.plain))
    with app.app_context():
        sender_id = db.session.scalar(select(CrmSender.id))
    response = ivanov.post(f"/crm/compose/deal/{deal}", data={
        "csrf_token": token, "sender": f"sender:{sender_id}", "to-0": "client@example.org",
        "cc": "boss@example.org", "subject": "Коммерческое предложение",
        "body": "<p>Здравствуйте!</p>", "copy_to_me": "y", "important": "y",
        "action": "send"})
    assert response.status_code == 302
    page = ivanov.get(f"/crm/{deal}").get_data(as_text=True)
    assert "Письмо: Коммерческое предложение" in page and "В очереди" in page
    run_workers(app, once=True)
    [received] = smtp.plain.handler.received
    assert sorted(received.rcpt_tos) == ["boss@example.org", "client@example.org",
                                         "ivanov@example.com"]
    assert received.message["Importance"] == "high"
    assert "Отправлено" in ivanov.get(f"/crm/{deal}").get_data(as_text=True)


def test_sender_confirmed_by_the_code_from_the_letter(app, ivanov, deal, smtp):
    token = csrf_token(ivanov, "/crm/senders/new")
    page = ivanov.post("/crm/senders/new", follow_redirects=True, data={
        "csrf_token": token, "action": "code", "name": "Продажи", "email": "sales@example.com",
        "shared": "y"}).get_data(as_text=True)
    assert "Введите код из письма" in page
    confirmation = re.search(r'name="confirmation" value="(\d+)"', page).group(1)
    run_workers(app, once=True)
    [letter] = smtp.plain.handler.received
    code = re.search(r"\b(\d{6})\b", letter.message.get_body().get_content()).group(1)
    wrong = ivanov.post("/crm/senders/new", data={
        "csrf_token": token, "action": "confirm", "email": "sales@example.com",
        "confirmation": confirmation, "code": "000000" if code != "000000" else "111111"})
    assert "Неверный код. Осталось попыток: 4." in wrong.get_data(as_text=True)
    ok = ivanov.post("/crm/senders/new", data={
        "csrf_token": token, "action": "confirm", "email": "sales@example.com",
        "confirmation": confirmation, "code": code})
    assert ok.status_code == 302
    with app.app_context():
        sender = db.session.scalar(select(CrmSender))
        assert (sender.email, sender.shared, sender.has_smtp) == ("sales@example.com", True,
                                                                  False)
        from portal_smtp.models import SenderConfirmation
        assert db.session.scalar(select(func.count(SenderConfirmation.id))) == 0


def test_second_user_sees_shared_not_private_and_cannot_delete(app, client, users, deal):
    with app.app_context():
        shared = CrmSender(user_id=users.ivanov.id, email="team@example.com",
                           email_normalized="team@example.com", shared=True)
        private = CrmSender(user_id=users.ivanov.id, email="mine@example.com",
                            email_normalized="mine@example.com")
        db.session.add_all([shared, private])
        db.session.commit()
        shared_id = shared.id
    login(client, users.petrova)
    page = client.get(f"/crm/{deal}").get_data(as_text=True)
    assert "team@example.com" in page and "mine@example.com" not in page
    assert f"/crm/senders/{shared_id}/delete" not in page
    token = csrf_token(client, f"/crm/{deal}")
    client.post(f"/crm/senders/{shared_id}/delete", data={"csrf_token": token})
    assert senders(app) == 2


def test_letter_without_any_transport_is_reported(app, ivanov, users, deal):
    with app.app_context():
        sender = CrmSender(user_id=users.ivanov.id, email="x@example.com",
                           email_normalized="x@example.com",
                           address_proven=True)  # confirmed by a code, no own SMTP
        db.session.add(sender)
        db.session.commit()
        sender_id = sender.id
    token = csrf_token(ivanov, f"/crm/{deal}")
    response = ivanov.post(f"/crm/compose/deal/{deal}", data={
        "csrf_token": token, "sender": f"sender:{sender_id}", "to-0": "client@example.org",
        "subject": "Тест", "body": "<p>x</p>", "action": "send"})
    page = ivanov.get(response.headers["Location"]).get_data(as_text=True)
    assert "Письмо не отправлено: Не найден SMTP-аккаунт для отправителя" in page
    with app.app_context():
        assert db.session.scalar(select(OutboxMessage.status)) == "failed"
        assert db.session.scalar(select(func.count(CrmActivity.id))) == 1


def test_templates_save_and_fill_the_composer(app, ivanov, deal):
    token = csrf_token(ivanov, f"/crm/{deal}")
    ivanov.post(f"/crm/compose/deal/{deal}", data={
        "csrf_token": token, "action": "save_template", "template_name": "КП",
        "subject": "Коммерческое предложение", "body": "<p>Текст КП</p>", "to-0": ""})
    page = ivanov.get(f"/crm/{deal}").get_data(as_text=True)
    template_id = re.search(r'<option value="(\d+)">КП</option>', page).group(1)
    fragment = ivanov.get(f"/crm/template?template={template_id}",
                          headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'value="Коммерческое предложение"' in fragment and "Текст КП" in fragment
    assert fragment.count('hx-swap-oob="true"') == 2  # only subject and body change
    again = ivanov.post(f"/crm/compose/deal/{deal}", data={
        "csrf_token": token, "action": "save_template", "template_name": "КП",
        "subject": "x", "body": "y", "to-0": ""}).get_data(as_text=True)
    assert "Шаблон «КП» уже есть" in again


def test_bad_addresses_are_field_errors_not_500(ivanov, deal, app, smtp):
    with app.app_context():
        sender = CrmSender(user_id=db.session.scalar(select(CrmEntity.owner_id)),
                           email="noreply@example.com", email_normalized="noreply@example.com")
        db.session.add(sender)
        db.session.commit()
        sender_id = sender.id
    token = csrf_token(ivanov, f"/crm/{deal}")
    for field, value, label in (("to-0", "a@b.ru, c@", "Кому"), ("cc", "buh@", "Копия"),
                                ("bcc", "x@", "Скрытая копия")):
        data = {"csrf_token": token, "sender": f"sender:{sender_id}", "to-0": "client@example.org",
                "subject": "Тема", "body": "Текст", "action": "send", field: value}
        response = ivanov.post(f"/crm/compose/deal/{deal}", data=data)
        assert response.status_code == 422
        assert f"Некорректный адрес в поле «{label}»" in response.get_data(as_text=True)


def test_plain_text_body_keeps_its_lines_and_symbols(app, ivanov, users, deal, smtp):
    from portal_smtp.services.crm import body_parts

    text, html = body_parts("Добрый день!\n\nЦена < 100 руб. и > 50 руб.\nИван")
    assert text == "Добрый день!\n\nЦена < 100 руб. и > 50 руб.\nИван"
    assert html == "Добрый день!<br>\n<br>\nЦена &lt; 100 руб. и &gt; 50 руб.<br>\nИван"
    text, _ = body_parts("<p>Цена &lt; 100</p><p>Итого</p>")
    assert text == "Цена < 100\nИтого"
