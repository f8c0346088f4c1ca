"""Checking a letter before it is queued (SPEC §15): one From, valid recipients, no header
that could smuggle a line break, a Message-ID fixed once, Bcc kept out of the headers."""
from __future__ import annotations

import copy
import email.policy
from dataclasses import dataclass
from datetime import datetime
from email import errors
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from ..smtp.addresses import AddressError, Mailbox, parse_from_header, validate_address

FORBIDDEN = ("\r", "\n", "\x00", "\u2028", "\u2029")
MAX_HEADER_LENGTH = 4000
MAX_RECIPIENTS = 1000
MAX_LETTER_BYTES = 25 * 1024 * 1024
RECIPIENT_HEADERS = ("To", "Cc", "Bcc")


class InvalidLetter(ValueError):
    """The letter cannot be queued; the message is Russian and safe to show."""


@dataclass(frozen=True)
class PreparedLetter:
    """A letter ready for the outbox."""

    mailbox: Mailbox
    from_header: str
    envelope_from: str
    recipients: list[str]
    subject: str
    message_id: str
    #: A copy of the caller's letter with Message-ID and Date set and Bcc removed.
    letter: EmailMessage


def _check_headers(message: EmailMessage) -> None:
    for name, value in message.items():
        text = str(value)
        if any(ch in text for ch in FORBIDDEN):
            raise InvalidLetter(f"Заголовок {name} содержит перевод строки или управляющий "
                                "символ — такое письмо не будет отправлено.")
        if len(text) > MAX_HEADER_LENGTH:
            raise InvalidLetter(f"Заголовок {name} слишком длинный.")


def _parsed(name: str, value) -> object:
    """The parsed header, refused when the parser found anything wrong with it.

    The defects of the header as the caller set it count: its ``str()`` is already a
    cleaned-up rendering (``a@x.org)<b@y.org>`` renders as ``a@x.org``). A non-ASCII local
    part is allowed here; whether the server offers SMTPUTF8 is checked when sending.
    """
    try:
        header = value if hasattr(value, "defects") else \
            email.policy.default.header_factory(name, str(value))
    except (errors.HeaderParseError, IndexError, ValueError, TypeError):
        raise InvalidLetter(f"Некорректный адрес в поле {name}: {str(value)[:200]}") from None
    defects = [d for d in header.defects if not isinstance(d, errors.NonASCIILocalPartDefect)]
    if defects:
        raise InvalidLetter(f"Некорректный адрес в поле {name}: {str(value)[:200]}")
    return header


def _recipients(message: EmailMessage) -> list[str]:
    found: list[str] = []
    for header_name in RECIPIENT_HEADERS:
        for value in message.get_all(header_name, []):
            header = _parsed(header_name, value)
            for address in header.addresses:
                try:
                    valid = validate_address(address.addr_spec)
                except AddressError as error:
                    raise InvalidLetter(str(error)) from None
                wire = f"{valid.local_part}@{valid.ascii_domain}"
                if wire.lower() not in (r.lower() for r in found):
                    found.append(wire)
    if not found:
        raise InvalidLetter("У письма нет ни одного получателя.")
    if len(found) > MAX_RECIPIENTS:
        raise InvalidLetter(f"Слишком много получателей: не больше {MAX_RECIPIENTS}.")
    return found


def prepare_letter(message: EmailMessage) -> PreparedLetter:
    """Validate ``message`` and return what the outbox stores. Raises :class:`InvalidLetter`.

    The caller's message is not changed: a copy gets the Message-ID, the Date and loses Bcc.
    """
    if not isinstance(message, EmailMessage):
        raise InvalidLetter("Письмо должно быть объектом email.message.EmailMessage.")
    _check_headers(message)
    senders = message.get_all("From", [])
    if len(senders) != 1:
        raise InvalidLetter("У письма должно быть ровно одно поле From.")
    _parsed("From", senders[0])
    mailbox = parse_from_header(str(senders[0]))
    if mailbox is None:
        raise InvalidLetter(f"Некорректный адрес отправителя: {str(senders[0])[:200]}")
    recipients = _recipients(message)
    valid_from = validate_address(mailbox.address)
    envelope_from = f"{valid_from.local_part}@{valid_from.ascii_domain}"

    letter = copy.deepcopy(message)
    del letter["Bcc"]
    if letter["Message-ID"] is None:
        letter["Message-ID"] = make_msgid(domain=valid_from.ascii_domain)
    if letter["Date"] is None:
        letter["Date"] = format_datetime(datetime.now().astimezone())
    message_id = str(letter["Message-ID"]).strip()
    if len(message_id) > 250:
        raise InvalidLetter("Слишком длинный Message-ID.")
    return PreparedLetter(mailbox, str(senders[0]), envelope_from, recipients,
                          str(message.get("Subject", ""))[:1000], message_id, letter)


def serialize(prepared: PreparedLetter) -> bytes:
    """The bytes that go out: CRLF line endings, headers verified as they are generated."""
    smtputf8 = not (prepared.envelope_from.isascii()
                    and all(r.isascii() for r in prepared.recipients))
    policy = email.policy.SMTPUTF8 if smtputf8 else email.policy.SMTP
    if hasattr(policy, "verify_generated_headers"):
        policy = policy.clone(verify_generated_headers=True)
    try:
        raw = prepared.letter.as_bytes(policy=policy)
    except (ValueError, TypeError) as error:  # email refuses a header it cannot fold safely
        raise InvalidLetter(f"Письмо не удалось сформировать: {error}") from None
    if len(raw) > MAX_LETTER_BYTES:
        raise InvalidLetter("Письмо больше 25 МБ.")
    return raw
