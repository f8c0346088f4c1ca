"""Reading the outbox and its send log for «Логи отправки писем» and ``smtp logs``."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, or_, select

from ..config import display_zone
from ..crypto import UNREADABLE_LABEL
from ..extensions import db
from ..models import OutboxMessage, SmtpAccount
from ..smtp.settings import InvalidSettings, UnusableSecretError
from .storage import parse_id
from .transports import load_transport


def account_label(letter: OutboxMessage) -> str:
    """How a letter's transport is named now ("" when none)."""
    return account_labels([letter])[letter.id]


def account_labels(letters: list[OutboxMessage]) -> dict[int, str]:
    """Transport names for many letters, loading each transport once."""
    names: dict[tuple[str, int | None], str] = {}
    labels = {}
    for letter in letters:
        key = (letter.transport_type, letter.transport_id)
        if key not in names:
            names[key] = _label(*key)
        labels[letter.id] = names[key]
    return labels


def _label(kind: str, transport_id: int | None) -> str:
    """How one transport is named now; one whose stored settings cannot be used (a password
    no key decrypts, say) is still named, with the reason."""
    if not kind:
        return ""
    try:
        transport = load_transport(kind, transport_id)
    except UnusableSecretError:
        return f"{kind} #{transport_id} (пароль: {UNREADABLE_LABEL})"
    except InvalidSettings:
        return f"{kind} #{transport_id} (настройки неверны)"
    return transport.label if transport is not None else (
        f"{kind} #{transport_id} (удалён или выключен)")


def letters_for_cli(status: str | None, limit: int) -> list[dict[str, object]]:
    """The rows of ``smtp logs --json``: id, status, from, to, subject, account, attempts,
    error — newest first; ``created_at`` and ``sent_at`` as stored (naive UTC), which the
    command shows in the portal's time zone."""
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if status:
        query = query.where(OutboxMessage.status == status)
    letters = list(db.session.scalars(query))
    labels = account_labels(letters)
    return [
        {"id": letter.id, "status": letter.status, "from": letter.from_header,
         "to": letter.recipient_list, "subject": letter.subject,
         "account": labels[letter.id], "attempts": letter.attempts,
         "error": letter.last_error, "message_id": letter.message_id,
         "created_at": letter.created_at, "sent_at": letter.sent_at}
        for letter in letters
    ]


#: The first and the last day a log filter accepts: no letter is older than the module, and
#: the ends of ``date`` (0001-01-01, 9999-12-31) overflow in time zone arithmetic.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2999, 12, 31)


@dataclass(frozen=True)
class LogFilter:
    """Filters of «Логи отправки писем»: status, period, address and account."""

    status: str = ""
    date_from: date | None = None
    date_to: date | None = None
    address: str = ""
    account: str = ""

    def apply(self, query: Select) -> Select:
        """Add this filter's conditions to a query over :class:`OutboxMessage`."""
        if self.status:
            query = query.where(OutboxMessage.status == self.status)
        if self.date_from:
            query = query.where(OutboxMessage.created_at >= _utc_midnight(
                _clamp(self.date_from)))
        if self.date_to:
            query = query.where(OutboxMessage.created_at < _utc_midnight(
                _clamp(self.date_to) + timedelta(days=1)))
        if self.address.strip():
            text = self.address.strip().lower()
            query = query.where(or_(
                func.lower(OutboxMessage.from_header).contains(text, autoescape=True),
                func.lower(OutboxMessage.recipients).contains(text, autoescape=True)))
        if self.account.strip():
            wanted = self.account.strip().lower()
            accounts = select(SmtpAccount.id)
            account_id = parse_id(wanted)
            accounts = accounts.where(SmtpAccount.id == account_id) if account_id else \
                accounts.where(SmtpAccount.email_normalized.contains(wanted, autoescape=True))
            query = query.where(OutboxMessage.transport_type == "account",
                                OutboxMessage.transport_id.in_(accounts))
        return query


def day_in_range(day: date) -> bool:
    """Whether ``day`` is one the log can be filtered by (:data:`FIRST_DAY`..:data:`LAST_DAY`);
    the ends of ``date`` itself overflow when shifted between time zones."""
    return FIRST_DAY <= day <= LAST_DAY


def _clamp(day: date) -> date:
    """``day`` moved into :data:`FIRST_DAY`..:data:`LAST_DAY`, where nothing overflows."""
    return min(max(day, FIRST_DAY), LAST_DAY)


def _utc_midnight(day: date) -> datetime:
    """The start of ``day`` in the portal's time zone, as the naive UTC the columns store."""
    zone = ZoneInfo(display_zone())
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC).replace(tzinfo=None)


def list_letters(log_filter: LogFilter, page: int, size: int) -> tuple[list[OutboxMessage], bool]:
    """One page of letters, newest first, and whether another page follows."""
    ids = list(db.session.scalars(
        log_filter.apply(select(OutboxMessage.id)).order_by(OutboxMessage.id.desc())
        .limit(size + 1).offset((page - 1) * size)))
    has_next = len(ids) > size
    ids = ids[:size]
    if not ids:
        return [], False
    rows = {m.id: m for m in db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.id.in_(ids)))}
    return [rows[i] for i in ids], has_next


def count_letters(log_filter: LogFilter) -> int:
    """How many letters the filter matches."""
    return db.session.scalar(log_filter.apply(select(func.count(OutboxMessage.id)))) or 0
