"""Every delete confirmation of the UI in a real Chromium, with addresses and names an attacker
chose (issue #10 item 9): the dialog shows the exact text, no script of the data runs,
dismissing keeps the object and accepting deletes it.

Confirmations are data (``data-confirm``, ``hx-confirm``) or a server-rendered modal, never
inline JS: ``o'brien@…`` used to break the inline ``confirm('…')`` (deleting without asking)
and ``x'-alert`1`-'@…`` ran its own script.
"""
from __future__ import annotations

import smtplib
from email.message import EmailMessage

import pytest
from playwright.sync_api import expect

from portal_smtp.devmail import read_letters, start_catcher
from portal_smtp.extensions import db
from portal_smtp.models import (
    CrmSender,
    Mailbox,
    MailboxSending,
    MailProvider,
    SmtpAccount,
)
from portal_smtp.portal.models import CrmEntity

from .conftest import browser_login
from .factories import make_account
from .servers import free_port

pytestmark = pytest.mark.browser

HOSTILE = ["o'brien@example.org", "x'-alert`1`-'@example.org"]
HOSTILE_NAME = "O'Brien Mail <img src=x onerror=alert(2)> x'-alert`1`-'"


class Dialogs:
    """Every JS dialog the page opens: confirms are answered from a queue, anything else
    (an ``alert`` an injected script raised) is recorded and dismissed."""

    def __init__(self, page) -> None:
        self.seen: list[tuple[str, str]] = []
        self.answers: list[bool] = []
        self.errors: list[str] = []
        page.on("dialog", self._handle)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _handle(self, dialog) -> None:
        self.seen.append((dialog.type, dialog.message))
        if dialog.type == "confirm" and self.answers and self.answers.pop(0):
            dialog.accept()
        else:
            dialog.dismiss()

    def confirms(self) -> list[str]:
        return [message for kind, message in self.seen if kind == "confirm"]

    def assert_clean(self) -> None:
        """No dialog but the confirms and no script error: nothing of the data ran."""
        assert [kind for kind, _ in self.seen if kind != "confirm"] == []
        assert self.errors == []


def count(app, model, **where) -> int:
    with app.app_context():
        return db.session.query(model).filter_by(**where).count()


# --- CRM senders (data-confirm) -----------------------------------------------------------


@pytest.mark.parametrize("address", HOSTILE)
def test_crm_sender_delete_confirms_the_exact_address(page, live_server, users, app, address):
    with app.app_context():
        deal = CrmEntity(kind="deal", title="Сделка", email="client@example.com",
                         owner_id=users.ivanov.id)
        sender = CrmSender(user_id=users.ivanov.id, name="", email=address,
                           email_normalized=address.lower())
        db.session.add_all([deal, sender])
        db.session.commit()
        deal_id = deal.id
    dialogs = Dialogs(page)
    browser_login(page, live_server, users.ivanov)
    page.goto(f"{live_server}/crm/{deal_id}")
    row = page.locator("ul.senders li", has_text=address)
    expected = f"Удалить отправителя {address}?"

    dialogs.answers.append(False)
    row.get_by_role("button", name="Удалить").click()
    expect(row).to_be_visible()
    assert dialogs.confirms() == [expected]
    page.reload()  # a submit would have happened by now: the sender is still there
    expect(row).to_be_visible()
    assert count(app, CrmSender, email=address) == 1

    dialogs.answers.append(True)
    row.get_by_role("button", name="Удалить").click()
    expect(page.get_by_text(f"Отправитель {address} удалён.")).to_be_visible()
    assert dialogs.confirms() == [expected, expected]
    assert count(app, CrmSender, email=address) == 0
    dialogs.assert_clean()


# --- the development mailbox («Очистить», data-confirm) -------------------------------------


def test_devmail_clear_asks_first(page, live_server, users, app):
    port = free_port()
    directory = app.config["SMTP_DEVMAIL_DIR"]
    controller = start_catcher("127.0.0.1", port, directory)
    try:
        letter = EmailMessage()
        letter["From"], letter["To"], letter["Subject"] = HOSTILE[1], HOSTILE[0], "Письмо"
        letter.set_content("Текст")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as server:
            server.send_message(letter)
    finally:
        controller.stop()
    dialogs = Dialogs(page)
    browser_login(page, live_server, users.admin)
    page.goto(f"{live_server}/dev/mailbox/")
    dialogs.answers.append(False)
    page.get_by_role("button", name="Очистить").click()
    page.reload()
    assert dialogs.confirms() == ["Удалить все письма тестового ящика?"]
    assert len(read_letters(directory)) == 1
    dialogs.answers.append(True)
    page.get_by_role("button", name="Очистить").click()
    expect(page.get_by_text("Удалено писем: 1.")).to_be_visible()
    assert read_letters(directory) == []
    dialogs.assert_clean()


# --- mailboxes (server-rendered modal, and «Отключить» with hx-confirm) ----------------------


def add_mailbox(app, owner_id: int, address: str, *, sending: bool = False) -> int:
    """A mailbox on a manual provider (no server is contacted by these tests)."""
    with app.app_context():
        provider = MailProvider(name="Ручной сервис", imap_host="127.0.0.1", imap_port=993,
                                imap_security="ssl", smtp_host="127.0.0.1", smtp_port=1,
                                smtp_security="none")
        db.session.add(provider)
        db.session.flush()
        box = Mailbox(user_id=owner_id, email=address, email_normalized=address.lower(),
                      provider_id=provider.id, imap_host="127.0.0.1", imap_port=993,
                      imap_security="ssl", imap_login=address, imap_password="imap-secret")
        db.session.add(box)
        db.session.flush()
        if sending:
            db.session.add(MailboxSending(mailbox_id=box.id, use_provider=True))
        db.session.commit()
        return box.id


@pytest.mark.parametrize("address", HOSTILE)
def test_mailbox_delete_confirms_the_exact_address(page, live_server, users, app, address):
    add_mailbox(app, users.ivanov.id, address)
    dialogs = Dialogs(page)
    browser_login(page, live_server, users.ivanov)
    page.goto(f"{live_server}/mail/")
    modal = page.locator("dialog#modal")
    row = page.locator("tr", has_text=address)

    row.get_by_role("link", name="Удалить").click()
    expect(modal.locator("p").first).to_have_text(f"Удалить ящик {address}?")
    modal.get_by_role("link", name="Отменить").click()
    expect(modal).to_be_hidden()
    assert count(app, Mailbox, email=address) == 1

    row.get_by_role("link", name="Удалить").click()
    modal.get_by_role("button", name="Да, удалить").click()
    expect(page.locator("tr", has_text=address)).to_have_count(0)
    assert count(app, Mailbox, email=address) == 0
    dialogs.assert_clean()
    assert dialogs.seen == []


@pytest.mark.parametrize("address", HOSTILE)
def test_mailbox_sending_disable_confirms_the_exact_address(page, live_server, users, app,
                                                            address):
    box_id = add_mailbox(app, users.ivanov.id, address, sending=True)
    dialogs = Dialogs(page)
    browser_login(page, live_server, users.ivanov)
    page.goto(f"{live_server}/mail/")
    page.locator("tr", has_text=address).get_by_role("link",
                                                     name="Настройка SMTP отправки").click()
    modal = page.locator("dialog#modal")
    expected = f"Отключить отправку через внешний SMTP для {address}? Настройки будут удалены."

    dialogs.answers.append(False)
    modal.get_by_role("button", name="Отключить").click()
    expect(modal.get_by_role("button", name="Отключить")).to_be_visible()
    assert dialogs.confirms() == [expected]
    assert count(app, MailboxSending, mailbox_id=box_id) == 1

    dialogs.answers.append(True)
    modal.get_by_role("button", name="Отключить").click()
    expect(modal.get_by_role("button", name="Отключить")).to_have_count(0)
    assert dialogs.confirms() == [expected, expected]
    assert count(app, MailboxSending, mailbox_id=box_id) == 0
    dialogs.assert_clean()


# --- providers and admin accounts (server-rendered modals) ----------------------------------


def test_provider_delete_shows_the_exact_name(page, live_server, users, app):
    with app.app_context():
        provider = MailProvider(name=HOSTILE_NAME, imap_host="imap.example.org", imap_port=993,
                                imap_security="ssl", smtp_host="smtp.example.org",
                                smtp_port=465, smtp_security="ssl")
        db.session.add(provider)
        db.session.commit()
    dialogs = Dialogs(page)
    browser_login(page, live_server, users.admin)
    page.goto(f"{live_server}/admin/smtp/providers")
    modal = page.locator("dialog#modal")
    row = page.locator("tr", has_text=HOSTILE_NAME)

    row.get_by_role("link", name="Удалить").click()
    expect(modal.locator("p").first).to_have_text(
        f"Удалить почтовый сервис «{HOSTILE_NAME}» и его домены?")
    modal.get_by_role("link", name="Отменить").click()
    expect(modal).to_be_hidden()
    assert count(app, MailProvider, name=HOSTILE_NAME) == 1

    row.get_by_role("link", name="Удалить").click()
    modal.get_by_role("button", name="Да, удалить").click()
    expect(page.locator("tr", has_text=HOSTILE_NAME)).to_have_count(0)
    assert count(app, MailProvider, name=HOSTILE_NAME) == 0
    dialogs.assert_clean()
    assert dialogs.seen == []


def test_account_delete_asks_in_the_modal(page, live_server, users, app):
    with app.app_context():
        ids = [make_account(address, HOSTILE_NAME).id for address in HOSTILE]
    dialogs = Dialogs(page)
    browser_login(page, live_server, users.admin)
    page.goto(f"{live_server}/admin/smtp/accounts")
    expect(page.locator("tbody tr", has_text=HOSTILE[1])).to_contain_text(HOSTILE_NAME)
    modal = page.locator("dialog#modal")

    page.get_by_label(f"Отметить аккаунт {ids[1]}", exact=True).check()
    page.get_by_role("button", name="Удалить").click()
    expect(modal).to_contain_text("Удалить 1 SMTP-аккаунт?")
    modal.get_by_role("link", name="Отменить").click()
    expect(modal).to_be_hidden()
    assert count(app, SmtpAccount) == 2

    page.get_by_role("button", name="Удалить").click()
    modal.get_by_role("button", name="Да, удалить").click()
    expect(page.locator("#accounts-table")).to_contain_text("Удалено аккаунтов: 1.")
    assert count(app, SmtpAccount, email=HOSTILE[1]) == 0
    assert count(app, SmtpAccount, email=HOSTILE[0]) == 1
    dialogs.assert_clean()
    assert dialogs.seen == []
