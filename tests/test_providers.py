"""«Почтовые сервисы»: two domains, detection, a domain belongs to one provider, guarded delete."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from portal_smtp.extensions import db
from portal_smtp.models import MailProvider

from .conftest import csrf_token, login

FORM = {"name": "Корпоративная почта", "active": "y", "imap_host": "imap.corp.example",
        "imap_port": "993", "imap_security": "ssl", "smtp_host": "smtp.corp.example",
        "smtp_port": "465", "smtp_security": "ssl", "login_format": "local_part",
        "auth_method": "basic", "domains": "corp-one.example\nCORP-TWO.example"}


@pytest.fixture
def admin(client, users):
    login(client, users.admin)
    return client


def test_admin_adds_a_provider_and_its_second_domain_is_detected(app, admin):
    token = csrf_token(admin, "/admin/smtp/providers/new")
    response = admin.post("/admin/smtp/providers/new", data={**FORM, "csrf_token": token})
    assert response.status_code == 302
    page = admin.get("/admin/smtp/providers").get_data(as_text=True)
    assert "Корпоративная почта" in page and "corp-one.example, corp-two.example" in page
    assert "Яндекс Почта" in page  # the shipped directory
    detected = admin.get("/mail/detect?email=ivan@corp-two.example").get_data(as_text=True)
    assert "Почтовый сервис определён: Корпоративная почта." in detected
    with app.app_context():
        stored = db.session.scalar(select(MailProvider).where(
            MailProvider.name == "Корпоративная почта"))
        assert stored.login_for("ivan@corp-two.example") == "ivan"


def test_a_domain_belongs_to_one_provider(app, admin):
    token = csrf_token(admin, "/admin/smtp/providers/new")
    response = admin.post("/admin/smtp/providers/new",
                          data={**FORM, "domains": "yandex.ru", "csrf_token": token})
    assert response.status_code == 422
    assert "Домен yandex.ru уже принадлежит почтовому сервису «Яндекс Почта»." in \
        response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(MailProvider.id).where(
            MailProvider.name == "Корпоративная почта")) is None


def test_provider_in_use_cannot_be_deleted(app, admin, provider, mailbox):
    confirm = admin.get(f"/admin/smtp/providers/{provider}/delete").get_data(as_text=True)
    assert "Чтобы удалить почтовый сервис, сначала удалите все почтовые ящики" in confirm
    token = csrf_token(admin, "/admin/smtp/providers")
    response = admin.post(f"/admin/smtp/providers/{provider}/delete",
                          data={"csrf_token": token})
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert ("Чтобы удалить почтовый сервис, сначала удалите все почтовые ящики, которые с ним "
            "работают") in page
    with app.app_context():
        assert db.session.get(MailProvider, provider) is not None


def test_unused_provider_is_deleted_after_confirmation(app, admin, provider):
    token = csrf_token(admin, "/admin/smtp/providers")
    admin.post(f"/admin/smtp/providers/{provider}/delete", data={"csrf_token": token})
    with app.app_context():
        assert db.session.get(MailProvider, provider) is None


def test_oauth_secret_is_encrypted_and_never_shown(app, admin):
    token = csrf_token(admin, "/admin/smtp/providers/new")
    admin.post("/admin/smtp/providers/new", data={
        **FORM, "auth_method": "oauth2", "oauth_client_id": "client-1",
        "oauth_client_secret": "очень-секретный-ключ", "csrf_token": token})
    with app.app_context():
        stored = db.session.scalar(select(MailProvider).where(MailProvider.name == FORM["name"]))
        assert stored.oauth_client_secret == "очень-секретный-ключ"
        provider_id = stored.id
    page = admin.get(f"/admin/smtp/providers/{provider_id}").get_data(as_text=True)
    assert "очень-секретный-ключ" not in page


def test_users_cannot_edit_providers(client, users):
    login(client, users.ivanov)
    assert client.get("/admin/smtp/providers").status_code == 403
