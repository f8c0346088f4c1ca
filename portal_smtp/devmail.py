"""The development mail catcher, «Тестовый почтовый ящик».

An aiosmtpd server on loopback that accepts any login and keeps every letter it receives in
a Maildir in the instance folder, so a newcomer can point an SMTP account at it and watch
«Проверить» and the test letter work with no internet. Never started in production.
"""
from __future__ import annotations

import mailbox
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class CaughtLetter:
    """One letter as the test mailbox page shows it."""

    key: str
    sender: str
    recipients: str
    subject: str
    date: datetime | None
    body: str


class _MaildirHandler:
    """aiosmtpd handler that stores each message in a Maildir."""

    def __init__(self, directory: Path) -> None:
        self.maildir = mailbox.Maildir(directory, create=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        letter = mailbox.MaildirMessage(envelope.original_content or envelope.content)
        letter["X-Devmail-Envelope-From"] = envelope.mail_from or ""
        letter["X-Devmail-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.maildir.add(letter)
        return "250 OK: сохранено в тестовом почтовом ящике"


def _accept_any_login(server, session, envelope, mechanism, auth_data):
    from aiosmtpd.smtp import AuthResult

    return AuthResult(success=True)


def start_catcher(host: str, port: int, directory: str | Path):
    """Start the catcher in a background thread and return its aiosmtpd controller."""
    import logging

    from aiosmtpd.controller import Controller

    # aiosmtpd logs every stray byte (a TLS hello sent to this plain server, say) as a
    # warning; the test mailbox is a convenience, so only its errors are worth a line.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    controller = Controller(
        _MaildirHandler(Path(directory)),
        hostname=host,
        port=port,
        authenticator=_accept_any_login,
        auth_require_tls=False,
        ident="portal_smtp development mail catcher",
    )
    controller.start()
    return controller


def read_letters(directory: str | Path, limit: int = 50) -> list[CaughtLetter]:
    """The newest ``limit`` letters the catcher kept, newest first."""
    path = Path(directory)
    if not (path / "cur").is_dir():
        return []
    box = mailbox.Maildir(path, factory=None, create=False)
    parser = BytesParser(policy=policy.default)
    letters = []
    for key in box.iterkeys():
        with box.get_file(key) as handle:
            message = parser.parse(handle)
        try:
            date = parsedate_to_datetime(message["Date"]) if message["Date"] else None
        except (TypeError, ValueError):
            date = None
        body_part = message.get_body(preferencelist=("plain", "html"))
        body = body_part.get_content() if body_part is not None else ""
        letters.append(
            CaughtLetter(
                key=key,
                sender=str(message.get("From", message.get("X-Devmail-Envelope-From", ""))),
                recipients=str(message.get("X-Devmail-Envelope-To", message.get("To", ""))),
                subject=str(message.get("Subject", "")),
                date=date,
                body=body[:20000],
            )
        )
    letters.sort(key=lambda letter: letter.date.timestamp() if letter.date else 0, reverse=True)
    return letters[:limit]


def clear_letters(directory: str | Path) -> int:
    """Delete every caught letter; returns how many there were."""
    path = Path(directory)
    if not (path / "cur").is_dir():
        return 0
    box = mailbox.Maildir(path, factory=None, create=False)
    keys = list(box.keys())
    for key in keys:
        box.discard(key)
    return len(keys)
