"""SPEC §5, table-driven: every step and tie-break of the resolver (SQLite and PostgreSQL)."""
from __future__ import annotations

from email.message import EmailMessage

import pytest

from portal_smtp.extensions import db
from portal_smtp.services.resolver import apply_sender_name, resolve

from .factories import make_account

# Accounts in id order; the key names each one in the table below.
ACCOUNTS = [
    ("letter_plain", "letter@34web.ru", "Рассылка 34web", {}),
    ("letter_flag", "letter@34web.ru", "Рассылка 34web", {"mailing_first": True}),
    ("letter_other_flag", "letter@34web.ru", "Другое имя", {"mailing_first": True}),
    ("letter_off", "letter@34web.ru", "Рассылка 34web", {"mailing_first": True, "active": False}),
    ("info_noname", "info@34web.ru", "", {}),
    ("info_named", "info@34web.ru", "Инфо", {}),
    ("idn", "user@почта.рф", "Почта", {}),
    ("sport", "Sport@Example.com", "Спорт", {}),
    ("other", "other@34web.ru", "X", {}),
    ("twin_old", "twin@34web.ru", "Близнец", {}),
    ("twin_new", "twin@34web.ru", "Близнец", {}),
    ("off_only", "off@34web.ru", "Выкл", {"active": False}),
    ("spaced", "spaced@34web.ru", "Имя с пробелами", {}),
]

CASES = [
    # step 1: mailing — flag + name + address, inactive excluded even with a higher id
    ("Рассылка 34web <letter@34web.ru>", True, "letter_flag"),
    ("Другое имя <letter@34web.ru>", True, "letter_other_flag"),
    # step 1, second half: flag + address, highest id among flagged
    ("Неизвестное имя <letter@34web.ru>", True, "letter_other_flag"),
    # step 2: name + address (not a mailing), highest id among the matches
    ("Рассылка 34web <letter@34web.ru>", False, "letter_flag"),
    ("Другое имя <letter@34web.ru>", False, "letter_other_flag"),
    # step 3: address only, highest active id
    ("Неизвестное имя <letter@34web.ru>", False, "letter_other_flag"),
    ("letter@34web.ru", False, "letter_other_flag"),
    # no display name matches an account without a name before a higher named one
    ("info@34web.ru", False, "info_noname"),
    ("Инфо <info@34web.ru>", False, "info_named"),
    ("Инфо <info@34web.ru>", True, "info_named"),  # a mailing with no flagged account
    # case-insensitive addresses, RFC 2047 names, trimmed names
    ("Инфо <INFO@34WEB.RU>", False, "info_named"),
    ("=?UTF-8?B?0JjQvdGE0L4=?= <info@34web.ru>", False, "info_named"),
    ("   Инфо    <info@34web.ru>", False, "info_named"),
    ('"  Имя с пробелами  " <spaced@34web.ru>', False, "spaced"),
    ("Спорт <sport@example.com>", False, "sport"),
    ("sport <SPORT@example.com>", False, "sport"),  # names compare exactly: step 3
    # IDN domains compare in their Unicode form
    ("user@xn--80a1acny.xn--p1ai", False, "idn"),
    ("Почта <USER@ПОЧТА.РФ>", False, "idn"),
    # parsed as RFC 5322, not by pattern
    ('"letter@34web.ru" <other@34web.ru>', False, "other"),
    # ties: highest id
    ("Близнец <twin@34web.ru>", False, "twin_new"),
    ("twin@34web.ru", True, "twin_new"),
    # nothing
    ("Выкл <off@34web.ru>", False, None),
    ("nobody@34web.ru", False, None),
    ("letter@34web.ru, info@34web.ru", False, None),
    ("not an address", False, None),
    ("alice@34web.ru)<letter@34web.ru>", False, None),
    ("Имя <>", False, None),
    ("c@", False, None),
    ("a@b.ru, c@", False, None),
    ("", False, None),
    ("Рассылка\r\nBcc: x@evil.example <letter@34web.ru>", False, None),
]


@pytest.fixture
def accounts(app):
    ids = {}
    with app.app_context():
        for key, email, name, extra in ACCOUNTS:
            ids[key] = make_account(email, name, commit=False, **extra).id
        db.session.commit()
    return ids


@pytest.mark.parametrize(("header", "mailing", "expected"), CASES)
def test_resolver(app, accounts, header, mailing, expected):
    with app.app_context():
        account = resolve(header, mailing=mailing)
        assert (account.id if account else None) == (accounts[expected] if expected else None)


def test_deactivating_an_account_changes_the_answer_at_once(app, accounts):
    with app.app_context():
        assert resolve("Близнец <twin@34web.ru>").id == accounts["twin_new"]
        db.session.get(type(resolve("twin@34web.ru")), accounts["twin_new"]).active = False
        db.session.commit()
        assert resolve("Близнец <twin@34web.ru>").id == accounts["twin_old"]


def test_cli_resolve(runner, accounts):
    result = runner.invoke(args=["smtp", "resolve", "Рассылка 34web <letter@34web.ru>",
                                 "--mailing"])
    assert (result.exit_code, result.output.strip()) == (0, str(accounts["letter_flag"]))
    missing = runner.invoke(args=["smtp", "resolve", "nobody@34web.ru"])
    assert missing.exit_code == 1
    assert "Не найден SMTP-аккаунт для отправителя nobody@34web.ru" in missing.output


def _letter(sender: str) -> EmailMessage:
    letter = EmailMessage()
    letter["From"] = sender
    return letter


def test_sender_name_fills_only_a_nameless_from(app, accounts):
    with app.app_context():
        account = resolve("letter@34web.ru")
        bare = _letter("letter@34web.ru")
        apply_sender_name(bare, account)
        assert str(bare["From"]) == "Другое имя <letter@34web.ru>"
        named = _letter("Своё имя <letter@34web.ru>")
        apply_sender_name(named, account)
        assert str(named["From"]) == "Своё имя <letter@34web.ru>"
