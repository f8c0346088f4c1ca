"""SMTP authentication that sends credentials as UTF-8.

``smtplib.SMTP.login`` encodes credentials as ASCII, so a Cyrillic password never reaches the
server. These functions speak CRAM-MD5, PLAIN, LOGIN and XOAUTH2 themselves over
``SMTP.docmd`` and send UTF-8 bytes, base64-encoded, as RFC 4616 and RFC 4954 intend.
"""
from __future__ import annotations

import base64
import hmac
import smtplib

from .settings import AuthType

#: Mechanisms for login/password auth, strongest first, used as the server offers them.
PASSWORD_MECHANISMS = ("CRAM-MD5", "PLAIN", "LOGIN")
#: Replies that mean "not this way" rather than "wrong credentials".
UNSUPPORTED_REPLIES = {504, 530, 538}


class AuthError(Exception):
    """Authentication did not succeed; ``code``/``reply`` are the server's last answer."""

    def __init__(self, code: int | None = None, reply: bytes | str = b"") -> None:
        super().__init__(code)
        self.code = code
        self.reply = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


class AuthFailed(AuthError):
    """The server rejected the credentials (535 and the like)."""


class AuthUnsupported(AuthError):
    """The server offers no mechanism we can use, or refuses AUTH in this state."""


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def offered_mechanisms(smtp: smtplib.SMTP) -> list[str]:
    """The AUTH mechanisms the server advertised in its EHLO reply."""
    if not smtp.has_extn("auth"):
        return []
    return smtp.esmtp_features["auth"].upper().split()


def authenticate(smtp: smtplib.SMTP, auth: AuthType, login: str, secret: str) -> str:
    """Log in with ``login``/``secret`` and return the mechanism used.

    ``secret`` is the password, or the OAuth access token for ``AuthType.XOAUTH2``.
    Raises :class:`AuthFailed` or :class:`AuthUnsupported`.
    """
    offered = offered_mechanisms(smtp)
    if auth is AuthType.XOAUTH2:
        candidates: tuple[str, ...] = ("XOAUTH2",)
    else:
        candidates = PASSWORD_MECHANISMS
    for mechanism in candidates:
        if mechanism in offered:
            _MECHANISMS[mechanism](smtp, login, secret)
            return mechanism
    raise AuthUnsupported(None, " ".join(offered))


def _finish(code: int, reply: bytes) -> None:
    if code == 235:
        return
    if code in UNSUPPORTED_REPLIES:
        raise AuthUnsupported(code, reply)
    raise AuthFailed(code, reply)


def _plain(smtp: smtplib.SMTP, login: str, secret: str) -> None:
    _finish(*smtp.docmd("AUTH", "PLAIN " + _b64(f"\0{login}\0{secret}")))


def _login(smtp: smtplib.SMTP, login: str, secret: str) -> None:
    code, reply = smtp.docmd("AUTH", "LOGIN")
    if code == 334:
        code, reply = smtp.docmd(_b64(login))
    if code == 334:
        code, reply = smtp.docmd(_b64(secret))
    _finish(code, reply)


def _cram_md5(smtp: smtplib.SMTP, login: str, secret: str) -> None:
    code, reply = smtp.docmd("AUTH", "CRAM-MD5")
    if code == 334:
        challenge = base64.b64decode(reply)
        digest = hmac.new(secret.encode("utf-8"), challenge, "md5").hexdigest()
        code, reply = smtp.docmd(_b64(f"{login} {digest}"))
    _finish(code, reply)


def _xoauth2(smtp: smtplib.SMTP, login: str, token: str) -> None:
    code, reply = smtp.docmd("AUTH", "XOAUTH2 " + _b64(f"user={login}\1auth=Bearer {token}\1\1"))
    if code == 334:
        # The server sent a JSON error challenge; an empty line makes it give the final 5xx.
        error_json = base64.b64decode(reply).decode("utf-8", "replace")
        code, reply = smtp.docmd("")
        reply = f"{reply.decode('utf-8', 'replace')} {error_json}".encode()
    _finish(code, reply)


_MECHANISMS = {"CRAM-MD5": _cram_md5, "PLAIN": _plain, "LOGIN": _login, "XOAUTH2": _xoauth2}
