"""SPEC §9: secrets encrypted at rest, key rotation, and safe defaults per environment."""
from __future__ import annotations

import stat

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Text, make_url, select, type_coerce

from portal_smtp.config import ConfigurationError
from portal_smtp.extensions import db
from portal_smtp.models import SmtpAccount
from portal_smtp.portal import create_app

from .conftest import dispose

SECRET = "Пароль-от-почты-2026"


def add_account(app) -> int:
    with app.app_context():
        account = SmtpAccount(
            email="letter@34web.ru", email_normalized="letter@34web.ru", host="smtp.34web.ru",
            port=465, security="ssl", auth="login", login="letter@34web.ru", password=SECRET,
        )
        db.session.add(account)
        db.session.commit()
        return account.id


def raw_token(app, account_id: int) -> str:
    with app.app_context():
        column = type_coerce(SmtpAccount.password, Text())
        return db.session.scalar(select(column).where(SmtpAccount.id == account_id))


def test_password_is_stored_encrypted(app):
    account_id = add_account(app)
    token = raw_token(app, account_id)
    assert SECRET not in token
    assert token.startswith("gAAAA")  # a Fernet token
    with app.app_context():
        assert db.session.get(SmtpAccount, account_id).password == SECRET
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.drivername == "sqlite":
        with open(url.database, "rb") as handle:
            assert SECRET.encode() not in handle.read()


def test_rotate_keys_reencrypts_under_the_newest_key(app, app_config):
    account_id = add_account(app)
    old_token = raw_token(app, account_id)
    new_key = Fernet.generate_key().decode()
    rotated_app = create_app({**app_config, "SMTP_KEYS": f"{new_key},{app_config['SMTP_KEYS']}"})
    result = rotated_app.test_cli_runner().invoke(args=["smtp", "rotate-keys"])
    assert result.exit_code == 0, result.output
    assert "Перешифровано секретов: 1." in result.output
    new_token = raw_token(rotated_app, account_id)
    assert new_token != old_token
    assert Fernet(new_key.encode()).decrypt(new_token.encode()).decode() == SECRET
    only_new = create_app({**app_config, "SMTP_KEYS": new_key})
    with only_new.app_context():
        assert db.session.get(SmtpAccount, account_id).password == SECRET
    dispose(only_new)
    dispose(rotated_app)


def test_production_refuses_to_start_without_keys(app_config, tmp_path):
    config = {**app_config, "ENV": "production", "INSTANCE_PATH": str(tmp_path)}
    config.pop("SMTP_KEYS")
    with pytest.raises(ConfigurationError, match="PORTAL_SMTP_KEYS"):
        create_app(config)
    config.update(SMTP_KEYS=Fernet.generate_key().decode(), SECRET_KEY=None)
    with pytest.raises(ConfigurationError, match="PORTAL_SECRET_KEY"):
        create_app(config)


def test_malformed_key_is_a_clear_error(app_config):
    with pytest.raises(ConfigurationError, match="malformed"):
        create_app({**app_config, "SMTP_KEYS": "not-a-fernet-key"})


def test_development_key_is_generated_once_with_mode_0600(app_config, tmp_path):
    config = {**app_config, "ENV": "development", "INSTANCE_PATH": str(tmp_path)}
    config.pop("SMTP_KEYS")
    create_app(config)
    key_file = tmp_path / "smtp-keys"
    first = key_file.read_text()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    app = create_app(config)
    assert key_file.read_text() == first
    with app.app_context():
        assert app.extensions["portal_smtp"].secrets.decrypt(
            Fernet(first.encode()).encrypt(b"x").decode()
        ) == "x"


def test_development_allows_loopback_production_does_not(app_config, tmp_path):
    base = {**app_config, "INSTANCE_PATH": str(tmp_path)}
    base.pop("SMTP_ALLOW_HOSTS")
    dev = create_app({**base, "ENV": "development"})
    prod = create_app({**base, "ENV": "production"})
    assert dev.extensions["portal_smtp"].policy.networks
    assert not prod.extensions["portal_smtp"].policy.networks
