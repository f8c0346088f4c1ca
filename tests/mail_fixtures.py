"""A directory provider whose IMAP is the test Dovecot and whose SMTP is the test STARTTLS
server, and a user's mailbox on it — shared by the «Почта» tests."""
from __future__ import annotations

import pytest

from portal_smtp.extensions import db
from portal_smtp.models import Mailbox
from portal_smtp.services.providers import ProviderInput, save_provider

from .servers import USERS

ADDRESS, PASSWORD = "anna@corp.example", "Пароль-ящика-7"


@pytest.fixture
def provider(app, smtp, dovecot):
    """«Тестовая почта» on corp.example and corp2.example; anna exists on both servers."""
    dovecot.set_users({ADDRESS: PASSWORD, "boris@corp2.example": "boris-pass-1"})
    USERS[ADDRESS] = PASSWORD
    app.config["SMTP_ALLOW_PORTS"] = ",".join(
        map(str, [*smtp.ports, dovecot.plain_port, dovecot.ssl_port]))
    from portal_smtp.extension import build_policy

    app.extensions["portal_smtp"].policy = build_policy(app)
    with app.app_context():
        provider = save_provider(None, ProviderInput(
            name="Тестовая почта", imap_host="127.0.0.1", imap_port=dovecot.ssl_port,
            imap_security="ssl", smtp_host="127.0.0.1", smtp_port=smtp.starttls.port,
            smtp_security="starttls", domains=["corp.example", "Corp2.Example"]))
        db.session.commit()
        provider_id = provider.id
    yield provider_id
    USERS.pop(ADDRESS, None)


@pytest.fixture
def mailbox(app, provider, users):
    """Anna's mailbox on the provider, owned by ivanov, without sending settings."""
    with app.app_context():
        box = Mailbox(user_id=users.ivanov.id, email=ADDRESS, email_normalized=ADDRESS,
                      provider_id=provider, imap_host="127.0.0.1", imap_port=993,
                      imap_security="ssl", imap_login=ADDRESS, imap_password=PASSWORD)
        db.session.add(box)
        db.session.commit()
        return box.id
