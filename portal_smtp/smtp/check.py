"""The verification engine behind «Проверить» and every save (SPEC §3).

``check`` runs the whole conversation — connect, TLS, EHLO, AUTH, MAIL FROM, RCPT TO and DATA
up to the server's 354 — then abandons the transaction, or, when asked, sends a real test
letter. It never raises for a network or protocol problem: it returns a :class:`CheckResult`
with a machine ``code`` and a Russian ``message`` that ends with the server's reply.
"""
from __future__ import annotations

import base64
import binascii
import errno
import logging
import re
import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from ..timeutil import utcnow
from .addresses import AddressError, wire_address
from .auth import AuthFailed, AuthUnsupported
from .connection import (
    DeadlineExceeded,
    DnsFailure,
    ReplyTooLong,
    Resolver,
    StartTlsUnsupported,
    Watchdog,
    open_session,
    system_resolver,
)
from .policy import BlockedTarget, NetworkPolicy
from .settings import Security, SmtpSettings

log = logging.getLogger(__name__)

TEST_SUBJECT = "Проверка отправки почты"
OK_MESSAGE = "Данные доступа верны!"
MAX_REPLY_LENGTH = 200

@dataclass(frozen=True)
class CheckResult:
    """The verdict of one check: ``ok``, a machine ``code`` and a Russian ``message``."""

    ok: bool
    code: str
    message: str
    #: The failing step's reply code and text, sanitised and truncated ("" when none).
    reply: str = ""
    checked_at: datetime = field(default_factory=utcnow)

    def as_json(self) -> dict[str, object]:
        """The public shape printed by ``smtp check``."""
        return {"ok": self.ok, "code": self.code, "message": self.message}


class ProtocolError(Exception):
    """A server answered with an error outside the SMTP exceptions (an IMAP BYE, say)."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


class _Refusal(Exception):
    """A MAIL FROM / RCPT TO / DATA step was refused."""

    def __init__(self, code: str, address: str, smtp_code: int | None, reply: bytes | str):
        super().__init__(code)
        self.code, self.address, self.smtp_code = code, address, smtp_code
        self.reply = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


def server_reply(code: int | None, text: str | bytes, settings: SmtpSettings) -> str:
    """A reply of the server of ``settings`` as it is shown and stored: one line, truncated,
    with that account's credentials masked in every form AUTH sent them."""
    return _clean_reply(code, text, (settings.password,), settings.login)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def credential_forms(login: str, secret: str) -> set[str]:
    """The forms in which AUTH puts ``secret`` on the wire: the secret itself and the base64
    of PLAIN's ``\\0login\\0secret``, of LOGIN's answers and of XOAUTH2's string."""
    forms = {_b64(f"\0{login}\0{secret}"), _b64(f"user={login}\1auth=Bearer {secret}\1\1"),
             _b64(secret)}
    if len(secret) >= 3:
        forms.add(secret)
    if login:
        forms.add(_b64(login))
    # A short secret's base64 would mask ordinary words of a reply.
    return {form for form in forms if len(form) >= 8 or form == secret}


#: A word a reply may carry an echoed AUTH line in (base64, padding optional).
_BASE64_WORD = re.compile(r"[A-Za-z0-9+/]{8,}={0,2}")


def mask_credentials(text: str, secrets: tuple[str, ...], login: str = "") -> str:
    """``text`` with ``secrets`` masked as «***»: plain, in every base64 form AUTH sends
    them in (a server may echo the AUTH line back), and any base64 word that decodes to
    something holding a secret or the login — CRAM-MD5's answer is the login and a digest
    of the password, which would open the password to guessing."""
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms |= credential_forms(login, secret)
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, "***")
    needles = [value.encode("utf-8") for value in (*secrets, login) if value and len(value) >= 3]
    if not needles:
        return text
    return _BASE64_WORD.sub(
        lambda word: "***" if _decodes_to_any(word.group(), needles) else word.group(), text)


def _decodes_to_any(word: str, needles: list[bytes]) -> bool:
    bare = word.rstrip("=")
    try:
        decoded = base64.b64decode(bare + "=" * (-len(bare) % 4))
    except (binascii.Error, ValueError):
        return False
    return any(needle in decoded for needle in needles)


def _seconds(value: float) -> str:
    return f"{value:g}"


def _clean_reply(code: int | None, text: str | bytes, secrets: tuple[str, ...],
                 login: str = "") -> str:
    """One line of the server's reply: control characters dropped, secrets masked (see
    :func:`mask_credentials`), truncated."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = re.sub(r"[\x00-\x1f\x7f\u2028\u2029]+", " ", text).strip()
    text = mask_credentials(text, secrets, login)
    if len(text) > MAX_REPLY_LENGTH:
        text = text[:MAX_REPLY_LENGTH] + "…"
    return f"{code} {text}".strip() if code else text


def _port_hint(settings: SmtpSettings) -> str:
    """A hint for the classic SSL/STARTTLS port mix-ups, or ""."""
    port = settings.effective_port
    if settings.security is not Security.SSL and port in (465, 993):
        return f" Порт {port} обычно используется с защитой «SSL/TLS» — попробуйте её."
    if settings.security is Security.SSL and port in (25, 587, 2525, 143):
        return (f" Сервер на порту {port} не ответил по TLS: обычно там используется "
                "«STARTTLS» или соединение без защиты — попробуйте их.")
    return ""


def _message(code: str, settings: SmtpSettings, detail: str = "", address: str = "",
             protocol: str = "SMTP") -> str:
    host, server = settings.host, settings.address
    texts = {
        "dns": f"Сервер {host} не найден. Проверьте адрес почтового сервера.",
        "refused": f"Не удалось подключиться к серверу {server}. Проверьте адрес и порт.",
        "timeout": f"Сервер {server} не ответил за {_seconds(settings.timeout)} с.",
        "tls": f"Ошибка защищённого соединения с сервером {host}: {detail}.",
        "starttls_unsupported": (
            f"Сервер не поддерживает STARTTLS ({server}). Выберите SSL/TLS (обычно порт "
            "465) или соединение без защиты."
        ),
        "auth_failed": "Неверный логин или пароль.",
        "auth_unsupported": (
            f"Сервер не поддерживает авторизацию доступным способом{detail}. "
            "Проверьте тип авторизации и защиту соединения."
        ),
        "sender_refused": f"Сервер отклонил адрес отправителя {address}.",
        "recipient_refused": f"Сервер отклонил адрес получателя {address}.",
        "blocked_host": (
            f"Подключение к этому адресу запрещено сетевой политикой портала ({server}): "
            f"{detail}."
        ),
        "unexpected": f"Ошибка {protocol}: {detail}.",
    }
    return texts[code]


def _tls_detail(error: ssl.SSLError) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"сертификат сервера не прошёл проверку ({error.verify_message})"
    reason = getattr(error, "reason", None) or error.__class__.__name__
    return f"не удалось установить TLS ({reason})"


def build_test_letter(sender: str, recipient: str, settings: SmtpSettings, label: str) -> bytes:
    """The «Проверка отправки почты» letter: a short Russian body naming the account."""
    letter = EmailMessage()
    letter["From"] = sender
    letter["To"] = recipient
    letter["Subject"] = TEST_SUBJECT
    letter["Date"] = format_datetime(datetime.now().astimezone())
    letter["Message-ID"] = make_msgid(domain=wire_address(sender).rpartition("@")[2])
    name = label or sender
    letter.set_content(
        "Здравствуйте!\n\n"
        f"Это тестовое письмо портала: проверка отправки почты для «{name}» через сервер "
        f"{settings.address}.\n"
        "Раз вы его читаете, настройки SMTP работают. Отвечать на письмо не нужно.\n"
    )
    smtputf8 = not (sender.isascii() and recipient.isascii())
    return letter.as_bytes(policy=letter.policy.clone(utf8=smtputf8, linesep="\r\n"))


def _mail_options(smtp: smtplib.SMTP, *addresses: str) -> list[str]:
    if all(address.isascii() for address in addresses):
        return []
    if not smtp.has_extn("smtputf8"):
        raise _Refusal(
            "sender_refused", addresses[0], None, "сервер не поддерживает SMTPUTF8"
        )
    return ["SMTPUTF8"]


def check(
    settings: SmtpSettings,
    *,
    sender: str,
    recipient: str | None = None,
    send_test_letter: bool = False,
    policy: NetworkPolicy,
    ehlo_hostname: str | None = None,
    label: str = "",
    resolver: Resolver = system_resolver,
) -> CheckResult:
    """Verify ``settings`` end to end for ``sender``; never raises for server problems.

    :param sender: the envelope sender whose acceptance is proven (MAIL FROM).
    :param recipient: RCPT TO; defaults to ``sender``.
    :param send_test_letter: deliver «Проверка отправки почты» instead of stopping at 354.
    :param policy: the network policy that judges the host and port.
    :param label: how the test letter names the account being checked.
    """
    recipient = recipient or sender
    watchdog = Watchdog()
    watchdog.arm(settings.timeout)
    smtp = None
    try:
        try:
            wire_sender, wire_recipient = wire_address(sender), wire_address(recipient)
        except AddressError as error:
            return CheckResult(False, "unexpected", f"Ошибка SMTP: {error}.")
        smtp = open_session(
            settings,
            policy=policy,
            watchdog=watchdog,
            ehlo_hostname=ehlo_hostname,
            resolver=resolver,
        )
        options = _mail_options(smtp, wire_sender, wire_recipient)
        smtp_code, text = smtp.mail(wire_sender, options)
        if smtp_code != 250:
            raise _Refusal("sender_refused", sender, smtp_code, text)
        smtp_code, text = smtp.rcpt(wire_recipient)
        if smtp_code not in (250, 251):
            raise _Refusal("recipient_refused", recipient, smtp_code, text)
        if send_test_letter:
            letter = build_test_letter(sender, recipient, settings, label)
            smtp_code, text = smtp.data(letter)
            if smtp_code != 250:
                raise smtplib.SMTPDataError(smtp_code, text)
            smtp.quit()
        else:
            smtp_code, text = smtp.docmd("DATA")
            if smtp_code != 354:
                raise smtplib.SMTPDataError(smtp_code, text)
            # In DATA mode RSET or QUIT would be taken as letter text; closing the
            # connection without the final dot is the only way to abandon the letter.
    except BaseException as error:  # classify every failure; re-raise only real interrupts
        if isinstance(error, KeyboardInterrupt | SystemExit):
            raise
        return failure_result(error, watchdog, settings)
    finally:
        if smtp is not None:
            smtp.close()
        watchdog.close()
    message = OK_MESSAGE
    if send_test_letter:
        message += f" Тестовое письмо отправлено на {recipient}."
    return CheckResult(True, "ok", message)


def failure_result(error: BaseException, watchdog: Watchdog, settings: SmtpSettings,
                   protocol: str = "SMTP") -> CheckResult:
    """The verdict for a failure while talking to the server of ``settings``.

    Used by the check and by the outbox workers, so both explain failures the same way.
    """
    code, reply, detail, address = _classify(error, watchdog, settings)
    message = _message(code, settings, detail=detail, address=address, protocol=protocol)
    if code in ("timeout", "tls", "unexpected", "refused"):
        message += _port_hint(settings)
    if reply:
        message += f" Ответ сервера: {reply}"
    return CheckResult(False, code, message, reply)


def _classify(
    error: BaseException, watchdog: Watchdog, settings: SmtpSettings
) -> tuple[str, str, str, str]:
    """Map an exception to ``(code, reply, detail, address)``."""
    if isinstance(error, BlockedTarget):
        log.info("SMTP connection blocked by policy: %s", error.reason)
        if error.kind == "port":
            detail = (f"порт {error.target} не входит в список разрешённых. Администратор "
                      "может добавить его в «Настройки → Дополнительные разрешённые порты»")
        else:
            detail = (f"{error.target} — внутренний или служебный адрес. Администратор может "
                      "разрешить его в «Настройки → Разрешённые адреса серверов»")
        return "blocked_host", "", detail, ""
    if isinstance(error, DnsFailure):
        return "dns", "", "", ""
    if watchdog.expired or _caused_by_timeout(error):
        return "timeout", "", "", ""
    if isinstance(error, StartTlsUnsupported):
        return "starttls_unsupported", "", "", ""
    if isinstance(error, ssl.SSLError):
        return "tls", "", _tls_detail(error), ""
    if isinstance(error, ConnectionRefusedError):
        return "refused", "", "", ""
    if isinstance(error, AuthFailed):
        return "auth_failed", server_reply(error.code, error.reply, settings), "", ""
    if isinstance(error, AuthUnsupported):
        offered = (f" (сервер предлагает: {server_reply(None, error.reply, settings)})"
                   if error.reply and not error.code else "")
        reply = server_reply(error.code, error.reply, settings) if error.code else ""
        return "auth_unsupported", reply, offered, ""
    if isinstance(error, _Refusal):
        return error.code, server_reply(error.smtp_code, error.reply, settings), "", error.address
    if isinstance(error, ReplyTooLong):
        return "unexpected", "", f"сервер прислал слишком длинный ответ ({error.what})", ""
    if isinstance(error, ProtocolError):
        return "unexpected", server_reply(None, error.reply, settings), "сервер ответил ошибкой", ""
    if isinstance(error, smtplib.SMTPResponseException):
        reply = server_reply(error.smtp_code, error.smtp_error, settings)
        return "unexpected", reply, "сервер ответил ошибкой", ""
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return "unexpected", "", "сервер неожиданно разорвал соединение", ""
    if isinstance(error, OSError) and not isinstance(error, smtplib.SMTPException):
        if error.errno is not None and error.errno in _UNREACHABLE:
            return "refused", "", "", ""
        return "unexpected", "", f"сетевая ошибка ({error.__class__.__name__})", ""
    log.exception("Unexpected failure during an SMTP check of %s", settings.ascii_host)
    return "unexpected", "", f"внутренняя ошибка ({error.__class__.__name__})", ""


def _caused_by_timeout(error: BaseException | None) -> bool:
    """True when ``error`` or what it wraps is a timeout (smtplib re-raises socket timeouts
    as ``SMTPServerDisconnected``)."""
    seen = 0
    while error is not None and seen < 5:
        if isinstance(error, DeadlineExceeded | TimeoutError):
            return True
        error = error.__cause__ or error.__context__
        seen += 1
    return False


_UNREACHABLE = {errno.ENETUNREACH, errno.EHOSTUNREACH}
