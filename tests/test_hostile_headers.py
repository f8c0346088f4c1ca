"""SPEC §15 on the machine's Python (3.11.7, no ``verify_generated_headers``): a letter handed
to ``send_mail`` the way an attacker builds it — parsed from bytes or a string, headers set
raw, encoded words that decode to line breaks, CVE-2023-27043 address forms, malformed
Message-IDs — is refused in Russian, and nothing of it ever reaches a real SMTP server."""
from __future__ import annotations

import base64
import email
import email.policy
import re
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select

from portal_smtp import send_mail
from portal_smtp.extensions import db
from portal_smtp.models import CrmSender, OutboxMessage, SmtpAccount
from portal_smtp.services.letters import prepare_letter, serialize
from portal_smtp.services.outbox import SendRefused
from portal_smtp.worker import run_workers

from .conftest import csrf_token, login
from .factories import make_account
from .servers import USERS

LOGIN = "user@example.com"
EVIL = "evil.example"
BCC = f"Bcc: spy@{EVIL}"
SECOND_FROM = f"From: Boss <boss@{EVIL}>"
#: Everything some generator, MTA or mail client treats as a line break.
BREAKS = ["\v", "\f", "\x1c", "\x1d", "\x1e", "\x1f", "\x85", "\x00", "\u2028", "\u2029",
          "\r", "\n", "\r\n"]
#: A legal header line of the generated output: a field name and a colon, or a fold.
HEADER_LINE = re.compile(rb"([!-9;-~]+:[ -~\x80-\xff\t]*|[ \t][ -~\x80-\xff\t]*)")


@pytest.fixture
def app_config(app_config):
    app_config.update(SMTP_RETRY_BASE_SECONDS=0, SMTP_RETRY_MAX_SECONDS=0,
                      SMTP_WORKER_IDLE_SECONDS=0.05)
    return app_config


@pytest.fixture
def server(app, smtp):
    """The real aiosmtpd server the admin account for LOGIN sends through."""
    with app.app_context():
        make_account(LOGIN, "Продажи", host=smtp.noauth.host, port=smtp.noauth.port,
                     security="none", auth="none", login="")
    return smtp.noauth


def clean_letter(**headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Продажи <{LOGIN}>"
    message["To"] = "client@example.org"
    message["Subject"] = "Счёт за март"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content("Здравствуйте! Счёт во вложении.")
    return message


def parsed(*lines: str, string: bool = False) -> EmailMessage:
    """A letter as a parser hands it over: the attacker controls the bytes."""
    text = "\r\n".join(lines) + "\r\n\r\nbody\r\n"
    if string:
        return email.message_from_string(text, policy=email.policy.default)
    return email.message_from_bytes(text.encode("utf-8"), policy=email.policy.default)


def parsed_with(header: str) -> EmailMessage:
    defaults = {"From": f"From: {LOGIN}", "To": "To: client@example.org", "Subject": "Subject: x"}
    defaults[header.partition(":")[0]] = header
    return parsed(*defaults.values())


def raw_header(name: str, value: str, replace: str | None = None) -> EmailMessage:
    """``msg._headers`` set directly, as code that bypasses the policy does."""
    message = clean_letter()
    if replace:
        message._headers = [(k, v) for k, v in message._headers if k != replace]
    message._headers.append((name, value))
    return message


def set_raw(name: str, value: str) -> EmailMessage:
    message = clean_letter()
    message.set_raw(name, value)
    return message


def assigned(name: str, value: str) -> EmailMessage:
    """``msg[name] = value`` — works for encoded words that decode to a line break."""
    message = clean_letter()
    del message[name]
    message[name] = value
    return message


def hostile_attachment() -> EmailMessage:
    message = clean_letter()
    message.add_attachment(b"%PDF", maintype="application", subtype="pdf", filename="a.pdf")
    part = next(message.iter_attachments())
    part._headers = [(k, f'attachment; filename="a.pdf\v{BCC}"' if k == "Content-Disposition"
                      else v) for k, v in part._headers]
    return message


def b_word(text: str) -> str:
    return f"=?UTF-8?B?{base64.b64encode(text.encode()).decode()}?="


ATTACKS = {
    **{f"parsed-subject-{sep!a}": (lambda sep=sep: parsed(
        f"From: Sales <{LOGIN}>", "To: client@example.org", f"Subject: Invoice{sep}{BCC}"))
       for sep in BREAKS if sep not in ("\r", "\n", "\r\n")},  # a parser splits those itself
    **{f"parsed-string-subject-{sep!a}": (lambda sep=sep: parsed(
        f"From: {LOGIN}", "To: client@example.org", f"Subject: Invoice{sep}{SECOND_FROM}",
        string=True)) for sep in ("\v", "\f", "\x85", "\u2028")},
    **{f"parsed-reply-to-{sep!a}": (lambda sep=sep: parsed_with(
        f"Reply-To: sales@example.com{sep}{BCC}")) for sep in ("\v", "\x1c", "\x85")},
    **{f"raw-subject-{sep!a}": (lambda sep=sep: raw_header(
        "Subject", f"Invoice{sep}{BCC}", replace="Subject")) for sep in BREAKS},
    **{f"set-raw-{sep!a}": (lambda sep=sep: set_raw("X-Note", f"a{sep}{SECOND_FROM}"))
       for sep in ("\r\n", "\n", "\v", "\f", "\x1e", "\x85")},
    **{f"header-name-{sep!a}": (lambda sep=sep: raw_header(f"X-Note{sep}Bcc",
                                                                f"spy@{EVIL}"))
       for sep in ("\r\n", "\n", "\r", "\v", "\x00", "\x85", "\u2028")},
    "header-name-colon": lambda: raw_header("X-Note: a\r\nBcc", f"spy@{EVIL}"),
    "header-name-space": lambda: raw_header("X Note", f"spy@{EVIL}"),
    "encoded-q-lf": lambda: assigned("Subject", f"=?UTF-8?Q?Invoice=0ABcc:_spy@{EVIL}?="),
    "encoded-q-vt": lambda: assigned("Subject", f"=?UTF-8?Q?Invoice=0BBcc:_spy@{EVIL}?="),
    "encoded-b-ff": lambda: assigned("Subject", b_word(f"Invoice\f{BCC}")),
    "encoded-b-nel": lambda: assigned("Subject", b_word(f"Invoice\x85{BCC}")),
    "parsed-encoded-crlf": lambda: parsed_with(f"Subject: =?UTF-8?Q?x=0D=0ABcc:_spy@{EVIL}?="),
    "encoded-display-name": lambda: parsed_with(
        f"From: =?UTF-8?Q?Boss=0ABcc:_spy@{EVIL}?= <{LOGIN}>"),
    "attachment-header": hostile_attachment,
    # CVE-2023-27043: the standard parser reads another address than a reader sees.
    "reply-to-paren": lambda: parsed_with(f"Reply-To: alice@example.org)<bob@{EVIL}>"),
    "reply-to-two-addr-specs": lambda: parsed_with(f"Reply-To: alice@example.org <bob@{EVIL}>"),
    "reply-to-angle-first": lambda: parsed_with(f"Reply-To: <alice@example.org>bob@{EVIL}"),
    "reply-to-quoted-address": lambda: parsed_with(
        f'Reply-To: "alice@example.org" <bob@{EVIL}>'),
    "reply-to-quoted-local": lambda: parsed_with(f'Reply-To: "alice@example.org"@{EVIL}'),
    "reply-to-assigned": lambda: assigned("Reply-To", f"alice@example.org)<bob@{EVIL}>"),
    "to-paren": lambda: parsed_with(f"To: client@example.org)<bob@{EVIL}>"),
    "cc-quoted-address": lambda: parsed(
        f"From: {LOGIN}", "To: client@example.org",
        f'Cc: "partner@example.org" <bob@{EVIL}>', "Subject: x"),
    # Message-ID: one <left@right>, printable ASCII, no spaces, bounded.
    "message-id-space": lambda: parsed_with(f"Message-ID: <a b@{EVIL}>"),
    "message-id-two": lambda: parsed_with(f"Message-ID: <a@{EVIL}> <b@{EVIL}>"),
    "message-id-no-brackets": lambda: parsed_with(f"Message-ID: a@{EVIL}"),
    "message-id-two-at": lambda: parsed_with(f"Message-ID: <a@b@{EVIL}>"),
    "message-id-empty-left": lambda: parsed_with(f"Message-ID: <@{EVIL}>"),
    "message-id-long": lambda: parsed_with(f"Message-ID: <{'x' * 300}@{EVIL}>"),
    "message-id-non-ascii": lambda: parsed_with(f"Message-ID: <счёт@{EVIL}>"),
    "message-id-twice": lambda: parsed(f"From: {LOGIN}", "To: client@example.org",
                                       f"Message-ID: <a@{EVIL}>", f"Message-ID: <b@{EVIL}>"),
}


def smuggled_lines(server) -> list[bytes]:
    """Header lines the server received that the caller's letter did not hold as headers:
    a Bcc, a second From, or anything naming the attacker's domain."""
    found = []
    for received in server.handler.received:
        head = received.content.partition(b"\r\n\r\n")[0].split(b"\r\n")
        froms = [line for line in head if line.lower().startswith(b"from:")]
        found += froms[1:]
        found += [line for line in head if line.lower().startswith(b"bcc:")
                  or EVIL.encode() in line]
        found += [r.encode() for r in received.rcpt_tos if EVIL in r]
    return found


def queue(app, message) -> str | None:
    """``send_mail`` as a host calls it; the refusal, or ``None`` when it was queued."""
    with app.app_context():
        try:
            send_mail(message)
        except SendRefused as error:
            return str(error)
    return None


def is_russian(text: str) -> bool:
    """A Russian sentence, with no English one in it (header names may stay English)."""
    return bool(re.search("[а-яё]{4}", text)) and not re.search(r"[a-z]{2,}[ ,']+[a-z]{2,}",
                                                                text)


@pytest.mark.parametrize("build", ATTACKS.values(), ids=ATTACKS.keys())
def test_hostile_letter_is_refused_and_nothing_reaches_the_server(app, server, build):
    refusal = queue(app, build())
    run_workers(app, once=True)
    assert smuggled_lines(server) == []
    assert server.handler.received == []
    assert refusal is not None and is_russian(refusal), refusal
    with app.app_context():
        assert db.session.scalar(select(func.count(OutboxMessage.id))) == 0


LEGITIMATE = {
    "folded-parsed-subject": lambda: parsed(f"From: Sales <{LOGIN}>", "To: client@example.org",
                                            "Subject: Invoice\r\n for March"),
    "tab-in-subject": lambda: assigned("Subject", "Счёт\tмарт"),
    "encoded-subject": lambda: parsed_with("Subject: =?UTF-8?B?0KHRh9GR0YI=?="),
    "reply-to-with-name": lambda: clean_letter(Reply_To="Отдел продаж <sales@example.com>"),
    "own-message-id": lambda: clean_letter(Message_ID="<order-42.march@example.com>"),
    "name-equal-to-address": lambda: assigned("To", '"client@example.org" <client@example.org>'),
    "spec-5-from": lambda: assigned("From", f'"letter@example.com" <{LOGIN}>'),
    "group": lambda: assigned("Cc", "Партнёры: partner@example.org, other@example.org;"),
}


@pytest.mark.parametrize("build", LEGITIMATE.values(), ids=LEGITIMATE.keys())
def test_legitimate_letters_still_go_out(app, server, build):
    assert queue(app, build()) is None
    run_workers(app, once=True)
    [received] = server.handler.received
    assert smuggled_lines(server) == []
    assert received.message["From"].addresses[0].addr_spec == LOGIN


def test_generated_header_block_is_checked_line_by_line(app):
    """Every line of a rich letter's header block is ``Name: value`` or a fold, CRLF ended."""
    message = assigned("Subject", "Очень длинная тема письма, которую придётся перенести " * 4)
    message["Reply-To"] = "Отдел продаж <sales@example.com>"
    message["Cc"] = "Иван Петров <ivan@почта.рф>, partner@corp.local"
    message.add_attachment(b"%PDF", maintype="application", subtype="pdf",
                           filename="Счёт №1.pdf")
    with app.app_context():
        raw = serialize(prepare_letter(message))
    head = raw.partition(b"\r\n\r\n")[0]
    lines = head.split(b"\r\n")
    assert len(lines) > 8 and any(line[:1] == b" " for line in lines)  # folds happened
    for line in lines:
        assert HEADER_LINE.fullmatch(line) and len(line) <= 998, line


class InjectingHeader(str):
    """A header whose generator output splits into two lines — a stand-in for the known gaps
    of the standard library's folding, which the final pass over the bytes must catch."""

    name = "X-Campaign"
    defects = ()

    def fold(self, *, policy) -> str:
        return f"X-Campaign: spring\r\n{BCC}\r\n"


def test_final_pass_over_the_bytes_catches_what_a_policy_lets_through(app, server):
    message = clean_letter()
    message._headers.append(("X-Campaign", InjectingHeader("spring")))
    refusal = queue(app, message)
    run_workers(app, once=True)
    assert smuggled_lines(server) == [] and server.handler.received == []
    assert refusal is not None and "лишняя строка" in refusal


def test_idn_domain_goes_into_headers_as_punycode(app, server):
    message = assigned("To", "Иван <ivan@почта.рф>")
    message["Reply-To"] = "sales@отдел.рф"
    assert queue(app, message) is None
    run_workers(app, once=True)
    [received] = server.handler.received
    head = received.content.partition(b"\r\n\r\n")[0]
    assert received.rcpt_tos == ["ivan@xn--80a1acny.xn--p1ai"]
    assert re.search(rb"^To: =\?utf-8\?b\?[^?]+\?= <ivan@xn--80a1acny\.xn--p1ai>\r?$", head,
                     re.MULTILINE | re.IGNORECASE), head
    assert b"Reply-To: sales@" + "отдел.рф".encode("idna") + b"\r\n" in head
    assert str(received.message["To"].addresses[0].display_name) == "Иван"


def test_reply_to_with_a_utf8_local_part_is_refused(app, server):
    refusal = queue(app, clean_letter(Reply_To="отдел@example.com"))
    assert refusal is not None and "Reply-To" in refusal and is_russian(refusal)


def test_account_sender_name_with_a_control_character_never_goes_out(app, server):
    """A name stored before names were checked is applied by the resolver: still refused."""
    with app.app_context():
        account = db.session.scalar(select(SmtpAccount))
        account.sender_name = f"Продажи\v{BCC}"
        db.session.commit()
    message = clean_letter()
    del message["From"]
    message["From"] = LOGIN  # no name of its own: the account's name is applied
    refusal = queue(app, message)
    run_workers(app, once=True)
    assert smuggled_lines(server) == [] and server.handler.received == []
    assert refusal is not None and is_russian(refusal)


def test_cli_send_explains_a_broken_subject_in_russian(app, runner, server):
    result = runner.invoke(args=["smtp", "send", "--from", LOGIN, "--to", "a@example.org",
                                 "--subject", f"Счёт\v{BCC}", "--body", "текст"])
    assert result.exit_code == 1
    assert "Некорректный заголовок письма" in result.output
    assert "Header values" not in result.output and "linefeed" not in result.output


# --- sender names: refused with a Russian message, nothing saved --------------------------

NAMES = ["Продажи\vBcc: spy@evil.example", "Продажи\x85", "Продажи\x1e", "Продажи\f",
         "Продажи\u2028", "=?UTF-8?Q?=D0=9E=0BBcc:_spy@evil.example?="]


@pytest.mark.parametrize("name", NAMES, ids=ascii)
def test_admin_account_form_refuses_a_control_character_in_the_sender_name(app, client,
                                                                            users, smtp,
                                                                            name):
    login(client, users.admin)
    token = csrf_token(client, "/admin/smtp/accounts/new")
    response = client.post("/admin/smtp/accounts/new", data={
        "csrf_token": token, "active": "y", "sender_name": name, "email": LOGIN,
        "host": smtp.plain.host, "port": str(smtp.plain.port), "security": "none",
        "auth": "login", "login": LOGIN, "password": USERS[LOGIN], "verify_tls": "y",
        "timeout": "5", "action": "save"})
    assert response.status_code == 422
    assert "Поле не может содержать переводы строк и управляющие символы." in \
        response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(SmtpAccount.id))) == 0


@pytest.mark.parametrize("name", NAMES, ids=ascii)
def test_cli_accounts_add_refuses_a_control_character_in_the_name(app, runner, smtp, name):
    result = runner.invoke(args=[
        "smtp", "accounts", "add", "--name", name, "--email", LOGIN, "--host", smtp.plain.host,
        "--port", str(smtp.plain.port), "--security", "none", "--auth", "login", "--login",
        LOGIN, "--password-stdin"], input=f"{USERS[LOGIN]}\n")
    assert result.exit_code == 1
    assert "«Имя отправителя»" in result.output and "управляющих символов" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count(SmtpAccount.id))) == 0


@pytest.mark.parametrize("name", NAMES, ids=ascii)
def test_crm_sender_form_refuses_a_control_character_in_the_name(app, client, users, smtp,
                                                                 name):
    login(client, users.ivanov)
    token = csrf_token(client, "/crm/senders/new")
    response = client.post("/crm/senders/new", data={
        "csrf_token": token, "action": "smtp", "name": name, "email": LOGIN,
        "host": smtp.plain.host, "port": str(smtp.plain.port), "login": LOGIN,
        "password": USERS[LOGIN]})
    assert response.status_code == 422
    assert "Поле не может содержать переводы строк и управляющие символы." in \
        response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(CrmSender.id))) == 0
