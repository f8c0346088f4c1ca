"""Hostile input never costs the portal a 500 (issue #10, item 8).

A deterministic table rather than random search: every rule of ``app.url_map`` (the module's
and the demo host's) is requested as an anonymous visitor, a user and an administrator with
hostile URL parts (ids past 2^31-1 and 2^63-1, 0, negatives, non-digits, NUL, other scripts'
digits, overlong strings) and hostile query and form values (the same, plus odd dates, file
uploads where text is expected, JSON bodies, missing fields, missing CSRF). No answer may be
a 500 or show a traceback. The named cases of the issue have their own tests below.
"""
from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser

import pytest
from sqlalchemy import select

from portal_smtp import send_mail
from portal_smtp.extensions import db
from portal_smtp.models import (
    CrmSender,
    EmailTemplate,
    Mailbox,
    MailProvider,
    OutboxMessage,
    SmtpAccount,
)
from portal_smtp.portal.models import CrmEntity
from portal_smtp.services.send_logs import LogFilter, count_letters

from .conftest import csrf_token, login
from .factories import make_account
from .test_outbox import letter

#: Values for an id in a URL: past PostgreSQL's INTEGER, past SQLite's 64 bits, not ids.
HOSTILE_IDS = ["2147483648", "9223372036854775808", "99999999999999999999999999", "0",
               "-1", "00", "abc", "1%00", "%00", "%D9%A1", "1.5", "1e9", "x" * 300]
#: Values for a query argument or a form field.
HOSTILE_VALUES = ["2147483648", "9223372036854775808", "-1", "0", "", " ", "abc", "\x00",
                  "a\x00b", "0001-01-01", "9999-12-31", "2024-02-30", "x" * 20_000,
                  "²", "١٢", "<script>alert(1)</script>", "'\"--;", "\r\nBcc: x@example.com",
                  "\u202e", "1" * 400]
#: Query arguments the lists, filters and pages read.
QUERY_FIELDS = ["page", "size", "sort", "dir", "total", "status", "date_from", "date_to",
                "address", "account", "q", "template", "back", "confirmation", "next", "email",
                "search", "active", "kind"]
#: Fields of every form of the module and the host, and the extra fields views read.
FORM_FIELDS = [
    # the module's forms
    "active", "sender_name", "email", "port", "security", "auth", "login", "password",
    "mailing_first", "verify_tls", "timeout", "enabled", "send_test_letter", "test_email",
    "log_retention_days", "default_timeout", "allow_ports", "kind", "title", "sender",
    "to", "cc", "bcc", "subject", "body", "copy_to_me", "important", "template",
    "template_name", "name", "shared", "secure", "code", "provider_id", "manual",
    "imap_port", "imap_security", "auth_mode", "smtp_port", "smtp_security",
    "login_format", "auth_method", "oauth_client_id", "oauth_client_secret", "domains",
    # the host's login form
    "username", "remember", "submit",
    # values views read from request.form
    "ids", "for_all", "action", "confirm", "list_query", "account_id", "back",
    "confirmation", "next",
]
#: Fields that name a server: kept on loopback so that no check leaves the machine (a
#: hostile name would be looked up in the DNS).
HOST_FIELDS = {"host": "127.0.0.1", "imap_host": "127.0.0.1", "smtp_host": "127.0.0.1",
               "allow_hosts": "127.0.0.1"}
ACTIONS = ["delete", "activate", "deactivate", "check", "smtp", "code", "save_template",
           "send", "resend"]


@dataclass
class Failure:
    """One request that answered 500 (or raised, or showed a traceback)."""

    role: str
    method: str
    url: str
    what: str
    detail: str = field(default="")

    def __str__(self) -> str:
        return f"{self.role} {self.method} {self.url[:120]!r} [{self.what}] {self.detail[:300]}"


@pytest.fixture
def app_config(app_config):
    """Rate limits off: a 429 after the 20th try would hide what the view does with the rest."""
    app_config["RATELIMIT_ENABLED"] = False
    return app_config


@pytest.fixture
def objects(app, users):
    """One of everything a URL can name, owned by ivanov where there is an owner."""
    with app.app_context():
        account = make_account("sales@example.com", "Продажи")
        letter_id = send_mail(letter(sender="sales@example.com", to="anna@client.example"))
        provider = db.session.scalars(select(MailProvider).order_by(MailProvider.id)).first()
        mailbox = Mailbox(user_id=users.ivanov.id, email="anna@corp.example",
                          email_normalized="anna@corp.example", provider_id=provider.id,
                          imap_host="127.0.0.1", imap_port=993, imap_security="ssl",
                          imap_login="anna@corp.example", imap_password="secret-pass")
        entity = CrmEntity(kind="deal", title="Поставка", email="client@example.org",
                           owner_id=users.ivanov.id)
        sender = CrmSender(user_id=users.ivanov.id, email="team@example.com",
                           email_normalized="team@example.com", shared=True)
        template = EmailTemplate(user_id=users.ivanov.id, name="Шаблон", subject="Тема",
                                 body_html="<p>Текст</p>")
        db.session.add_all([mailbox, entity, sender, template])
        db.session.commit()
        return {"account_id": account.id, "letter_id": letter_id, "provider_id": provider.id,
                "mailbox_id": mailbox.id, "entity_id": entity.id, "sender_id": sender.id,
                "template_id": template.id}


def _rules(app):
    """Every (rule, method) of the app: GETs, then POSTs, deletions and the logout last (so
    the objects and the session stay for the rest)."""
    pairs = [(rule, method) for rule in app.url_map.iter_rules()
             for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return sorted(pairs, key=lambda pair: (
        pair[1] != "GET", pair[1] != "GET" and pair[0].endpoint == "auth.logout",
        pair[1] != "GET" and "delete" in pair[0].rule, pair[0].rule))


def _path(rule, values: dict[str, str]) -> str:
    """The rule's path with ``values`` put in verbatim (url_for would refuse hostile ones)."""
    path = rule.rule
    for converter, name in ((c, n) for c, _, n in _parts(rule)):
        path = path.replace(f"<{converter}:{name}>", values[name]).replace(
            f"<{name}>", values[name])
    return path


def _parts(rule):
    """(converter, arguments, name) of each variable part of ``rule``."""
    return [(m.group(1) or "default", m.group(2), m.group(3)) for m in re.finditer(
        r"<(?:([a-zA-Z_][a-zA-Z0-9_]*)(?:\((.*?)\))?:)?([a-zA-Z_][a-zA-Z0-9_]*)>", rule.rule)]


def _path_variants(rule, objects) -> list[str]:
    """The rule's path with a real id, then with each hostile value in each variable part."""
    names = [name for _, _, name in _parts(rule)]
    if not names:
        return [rule.rule]
    real = {name: str(objects.get(name, 1)) if name != "filename" else "portal.css"
            for name in names}
    variants = [_path(rule, real)]
    for name in names:
        hostile = HOSTILE_IDS if name != "filename" else [
            "../../../../etc/passwd", "..%2F..%2Fsetup.cfg", "%00", "x" * 300, "portal.css%00"]
        variants += [_path(rule, real | {name: value}) for value in hostile]
    return variants


def _form(value: str, index: int, token: str | None) -> dict[str, str]:
    data = {name: value for name in FORM_FIELDS} | HOST_FIELDS
    data["action"] = ACTIONS[index % len(ACTIONS)] if index % 2 else value
    if token is not None:
        data["csrf_token"] = token
    return data


def _check(response, role, method, url, failures: list[Failure]) -> None:
    body = response.get_data(as_text=True)
    if response.status_code >= 500 and response.status_code != 503:
        failures.append(Failure(role, method, url, str(response.status_code), body))
    elif "Traceback (most recent call last)" in body or 'File "/' in body:
        failures.append(Failure(role, method, url, "traceback", body))


def _request(client, method, url, failures, role, **kwargs) -> None:
    try:
        response = client.open(url, method=method, **kwargs)
    except Exception as error:  # the testing app propagates what would have been a 500
        failures.append(Failure(role, method, url, type(error).__name__, str(error)))
        return
    with response:  # static files answer with an open file
        _check(response, role, method, url, failures)


def _fuzz(app, client, role: str, objects) -> list[Failure]:
    """Every rule with hostile URL parts, query arguments and form bodies."""
    failures: list[Failure] = []
    token = csrf_token(client, "/" if role != "anonymous" else "/login")
    htmx = {"HX-Request": "true"}
    for rule, method in _rules(app):
        paths = _path_variants(rule, objects)
        for path in paths[1:]:
            _request(client, method, path, failures, role,
                     data={"csrf_token": token} if method == "POST" else None)
        path = paths[0]
        if method == "GET":
            for index, value in enumerate(HOSTILE_VALUES):
                query = {name: value for name in QUERY_FIELDS}
                _request(client, "GET", path, failures, role, query_string=query,
                         headers=htmx if index % 2 else None)
            _request(client, "GET", path + "?page=1&page=x&size=200&size=-5&ids=1&ids=x",
                     failures, role)
            continue
        for index, value in enumerate(HOSTILE_VALUES):
            _request(client, method, path, failures, role, data=_form(value, index, token),
                     headers=htmx if index % 2 else None)
        # missing fields, missing CSRF, files where text is expected, JSON instead of a form
        _request(client, method, path, failures, role, data={"csrf_token": token})
        _request(client, method, path, failures, role, data=_form("1", 1, None))
        files = {name: (io.BytesIO(b"\xff\xfe\x00binary"), "x.bin") for name in FORM_FIELDS}
        _request(client, method, path, failures, role, data=files | {"csrf_token": token},
                 content_type="multipart/form-data")
        for body in ([1, 2], 7, {"name": 5, "email": ["a"], "csrf_token": token}, "null"):
            _request(client, method, path, failures, role, data=json.dumps(body),
                     content_type="application/json", headers={"X-CSRFToken": token})
        _request(client, method, path, failures, role, data=b"\xff\xfe%%%=&&=\x00",
                 content_type="application/x-www-form-urlencoded",
                 headers={"X-CSRFToken": token})
    return failures


@pytest.mark.parametrize("role", ["anonymous", "ivanov", "admin"])
def test_no_route_answers_500_to_hostile_input(app, client, users, objects, role):
    if role != "anonymous":
        login(client, getattr(users, role))
    failures = _fuzz(app, client, role, objects)
    assert not failures, "\n".join(map(str, failures[:40])) + f"\n({len(failures)} in all)"


# --- the named cases of the issue ---------------------------------------------------------

HUGE_ID_URLS = [
    "/crm/2147483648", "/crm/9223372036854775808", "/crm/0", "/crm/99999999999999999999",
    "/admin/smtp/logs/2147483648", "/admin/smtp/accounts/2147483648",
    "/admin/smtp/providers/2147483648", "/mail/2147483648/smtp", "/crm/%D9%A1",
]


def test_huge_ids_in_urls_are_404(client, users):
    login(client, users.admin)
    for url in HUGE_ID_URLS:
        response = client.get(url)
        assert response.status_code == 404, url
        assert "Страница не найдена" in response.get_data(as_text=True)


def test_largest_id_the_database_holds_still_reaches_the_view(client, users):
    login(client, users.admin)
    response = client.get("/admin/smtp/logs/2147483647")
    assert response.status_code == 404  # the view looked and found nothing: not routing
    assert "Страница не найдена" in response.get_data(as_text=True)
    assert client.post("/admin/smtp/logs/2147483648/retry",
                       data={"csrf_token": csrf_token(client, "/")}).status_code == 404


def test_huge_ids_in_query_and_form_are_ignored(app, client, users, objects):
    for value in ("2147483648", "9223372036854775808", "²", "-3"):
        login(client, users.ivanov)
        page = client.get(f"/crm/{objects['entity_id']}?template={value}")
        assert page.status_code == 200
        assert client.get(f"/crm/template?template={value}").status_code == 404
        assert client.get(f"/crm/senders/new?back={value}&confirmation={value}"
                          ).status_code == 200
        login(client, users.admin)
        response = client.post("/admin/smtp/accounts/group", data={
            "ids": [value, str(objects["account_id"])], "action": "deactivate",
            "csrf_token": csrf_token(client, "/admin/smtp/accounts")})
        assert response.status_code in (200, 302)
        assert client.get(f"/admin/smtp/logs?account={value}").status_code == 200
    with app.app_context():  # the valid id among the hostile ones was still acted on
        assert db.session.get(SmtpAccount, objects["account_id"]).active is False


def test_nul_characters_are_refused_not_sent_to_the_database(client, users, objects):
    token = csrf_token(client, "/login")
    response = client.post("/login", data={"username": "ad\x00min", "password": "x",
                                           "csrf_token": token})
    assert response.status_code == 422
    assert "Недопустимый символ в поле (NUL)" in response.get_data(as_text=True)
    login(client, users.admin)
    page = client.get("/admin/smtp/logs?address=anna%00@client&account=sales%00")
    assert page.status_code == 200
    assert f"/admin/smtp/logs/{objects['letter_id']}?" in page.get_data(as_text=True)


@pytest.mark.parametrize(("name", "label"), [("date_from", "Дата «с»"),
                                             ("date_to", "Дата «по»")])
def test_log_filter_refuses_dates_out_of_range(client, users, objects, name, label):
    login(client, users.admin)
    for value in ("0001-01-01", "9999-12-31"):
        for url in ("/admin/smtp/logs", "/admin/smtp/logs/count"):
            response = client.get(url, query_string={name: value})
            assert response.status_code == 200
        page = client.get("/admin/smtp/logs", query_string={name: value}).get_data(
            as_text=True)
        assert f"{label}: дата «{value}» вне допустимого диапазона" in page
        assert f"/admin/smtp/logs/{objects['letter_id']}?" in page  # filter not applied


def test_log_filter_service_clamps_extreme_dates(app, objects):
    from datetime import date

    with app.app_context():
        assert count_letters(LogFilter(date_from=date.min, date_to=date.max)) == 1
        assert count_letters(LogFilter(date_from=date.max)) == 0


def _provider_form(token: str, **changes) -> dict[str, str]:
    data = {"name": "Почта компании", "active": "y", "imap_host": "imap.corp.example",
            "imap_port": "993", "imap_security": "ssl", "smtp_host": "smtp.corp.example",
            "smtp_port": "465", "smtp_security": "ssl", "login_format": "email",
            "auth_method": "basic", "oauth_client_id": "", "oauth_client_secret": "",
            "domains": "corp.example", "csrf_token": token}
    for name, value in changes.items():
        if value is None:
            data.pop(name)
        else:
            data[name] = value
    return data


def test_provider_form_with_a_missing_field_rerenders_with_an_error(app, client, users):
    login(client, users.admin)
    token = csrf_token(client, "/admin/smtp/providers/new")
    for missing, error in (("name", "Укажите название."), ("imap_host", "Укажите IMAP-сервер."),
                           ("smtp_host", "Укажите SMTP-сервер.")):
        response = client.post("/admin/smtp/providers/new",
                               data=_provider_form(token, **{missing: None}))
        assert response.status_code == 422, missing
        assert error in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(MailProvider).where(
            MailProvider.name == "Почта компании")) is None


def test_provider_edit_without_the_domains_field_keeps_the_domains(app, client, users):
    login(client, users.admin)
    token = csrf_token(client, "/admin/smtp/providers/new")
    assert client.post("/admin/smtp/providers/new",
                       data=_provider_form(token)).status_code == 302
    with app.app_context():
        provider_id = db.session.scalar(select(MailProvider.id).where(
            MailProvider.name == "Почта компании"))
    response = client.post(f"/admin/smtp/providers/{provider_id}",
                           data=_provider_form(token, domains=None, imap_port="143"))
    assert response.status_code == 302
    with app.app_context():
        provider = db.session.get(MailProvider, provider_id)
        assert provider.imap_port == 143
        assert [d.domain for d in provider.domains] == ["corp.example"]


def test_file_in_a_text_field_is_a_missing_value(app, client, users):
    login(client, users.admin)
    token = csrf_token(client, "/admin/smtp/providers/new")
    data = _provider_form(token, name=None) | {"name": (io.BytesIO(b"\xff\x00"), "name.txt")}
    response = client.post("/admin/smtp/providers/new", data=data,
                           content_type="multipart/form-data")
    assert response.status_code == 422
    assert "Укажите название." in response.get_data(as_text=True)
    login(client, users.ivanov)
    token = csrf_token(client, "/crm/")
    response = client.post("/crm/", data={"csrf_token": token, "kind": "deal",
                                          "title": (io.BytesIO(b"text"), "t.txt")},
                           content_type="multipart/form-data")
    assert response.status_code in (200, 422)
    with app.app_context():
        assert db.session.scalar(select(CrmEntity)) is None


def test_json_body_instead_of_a_form_saves_nothing(app, client, users):
    login(client, users.ivanov)
    token = csrf_token(client, "/crm/")
    for body in ([1, 2], {"kind": "deal", "title": 5}, 7):
        response = client.post("/crm/", data=json.dumps(body), content_type="application/json",
                               headers={"X-CSRFToken": token})
        assert response.status_code in (200, 400, 422)
    with app.app_context():
        assert db.session.scalar(select(CrmEntity)) is None


# --- smtp send --body-file ----------------------------------------------------------------

def _send(runner, *extra):
    return runner.invoke(args=["smtp", "send", "--from", "sales@example.com", "--to",
                               "anna@client.example", "--subject", "Счёт", *extra])


def test_send_refuses_a_body_file_that_is_not_utf8(app, runner, tmp_path):
    body = tmp_path / "body.txt"
    body.write_bytes("Счёт во вложении".encode("cp1251"))
    result = _send(runner, "--body-file", str(body))
    assert result.exit_code == 1
    assert "не в кодировке UTF-8" in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)  # click's exit, not a crash
    with app.app_context():
        assert db.session.scalar(select(OutboxMessage)) is None


def test_send_reports_a_missing_body_file(app, runner, tmp_path):
    result = _send(runner, "--body-file", str(tmp_path / "absent.txt"))
    assert result.exit_code == 1
    assert "Файл с текстом письма не найден" in result.output


def test_send_reads_a_utf8_body_file_with_a_byte_order_mark(app, runner, tmp_path):
    with app.app_context():
        make_account("sales@example.com", "Продажи")
    body = tmp_path / "body.txt"
    body.write_bytes("\ufeffЗдравствуйте!".encode())
    result = _send(runner, "--body-file", str(body))
    assert result.exit_code == 0, result.output
    with app.app_context():
        stored = db.session.get(OutboxMessage, int(result.output.strip()))
        parsed = BytesParser(policy=policy.default).parsebytes(stored.raw)
        assert parsed.get_content().startswith("Здравствуйте!")


def test_cli_ids_past_the_database_range_are_refused(runner):
    for command in (["accounts", "delete"], ["accounts", "activate"]):
        result = runner.invoke(args=["smtp", *command, "99999999999999999999"])
        assert result.exit_code == 2
        assert "99999999999999999999" in result.output
