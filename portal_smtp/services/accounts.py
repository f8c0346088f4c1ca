"""Admin SMTP accounts: verified saving, group actions and the filtered, paged list (SPEC §4).

Every save runs the check first; a failed check changes nothing. Functions flush and
announce; the request or CLI command that called them commits.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import Select, delete, func, or_, select, update

from ..extensions import db
from ..models import SmtpAccount
from ..models.smtp_server import settings_for
from ..signals import accounts_deleted
from ..smtp import CheckResult, InvalidSettings, SmtpSettings
from ..smtp.addresses import normalize_address
from .module_settings import get_module_settings
from .routing import accounts_left
from .verification import BUSY_CODE, plan_check, verify, verify_many

#: Sort keys of the list and the columns they order by.
SORT_COLUMNS = {
    "id": SmtpAccount.id,
    "active": SmtpAccount.active,
    "name": SmtpAccount.sender_name,
    "email": SmtpAccount.email_normalized,
    "host": SmtpAccount.host,
    "port": SmtpAccount.port,
    "security": SmtpAccount.security,
    "auth": SmtpAccount.auth,
    "check": SmtpAccount.last_check_ok,
}


@dataclass
class AccountInput:
    """What an administrator submits for one account («Параметры SMTP-аккаунта»)."""

    email: str
    host: str
    port: int | None
    security: str
    auth: str
    sender_name: str = ""
    login: str = ""
    #: Blank on edit keeps the stored password.
    password: str = field(default="", repr=False)
    active: bool = True
    mailing_first: bool = False
    verify_tls: bool = True
    timeout: int | None = None
    #: «Лимиты отправки» by column (SPEC §17); missing ones are left as they are.
    limits: dict[str, int | None] = field(default_factory=dict)


def account_settings(data: AccountInput, existing: SmtpAccount | None = None) -> SmtpSettings:
    """The SMTP settings ``data`` describes (the stored password when the field is blank).

    Raises :class:`~portal_smtp.smtp.InvalidSettings` with a Russian message.
    """
    password = data.password or (existing.password if existing is not None else "") or ""
    return SmtpSettings(
        host=data.host,
        port=data.port,
        security=data.security,
        auth=data.auth,
        login=data.login.strip() if data.auth != "none" else "",
        password=password if data.auth != "none" else "",
        timeout=data.timeout or get_module_settings().default_timeout,
        verify_tls=data.verify_tls,
    )


def check_input(data: AccountInput, existing: SmtpAccount | None = None) -> CheckResult:
    """Run SPEC §3 for ``data`` as it would be saved, proving its sender address."""
    return verify(account_settings(data, existing), sender=data.email.strip(),
                  label=data.sender_name.strip() or data.email.strip())


def save_account(account: SmtpAccount | None, data: AccountInput,
                 result: CheckResult) -> SmtpAccount:
    """Store ``data`` after its check ``result`` passed; returns the (new) account."""
    if not result.ok:
        raise ValueError("a failed check saves nothing")
    settings = account_settings(data, account)
    switched_off = account is not None and account.active and not data.active
    account = account or SmtpAccount()
    account.active = data.active
    account.sender_name = data.sender_name.strip()
    account.email = data.email.strip()
    account.email_normalized = normalize_address(data.email)
    account.host = settings.host.lower()
    account.port = settings.effective_port
    account.security = settings.security.value
    account.auth = settings.auth.value
    account.login = settings.login
    if data.password or settings.auth.value == "none":
        account.password = settings.password or None
    account.mailing_first = data.mailing_first
    account.verify_tls = data.verify_tls
    account.timeout = data.timeout
    for name, value in data.limits.items():
        setattr(account, name, value)
    account.record_check(result)
    db.session.add(account)
    db.session.flush()
    if switched_off:
        accounts_left([account.id])
    current_app.logger.info("SMTP account %s (%s) saved", account.id, account.email)
    return account


def set_active(ids: Select, active: bool) -> int:
    """Activate or deactivate the accounts ``ids`` selects; returns how many changed.

    Letters waiting for a deactivated account are resolved again or fail (SPEC §8)."""
    changing = [] if active else list(db.session.scalars(
        select(SmtpAccount.id).where(SmtpAccount.id.in_(ids), SmtpAccount.active.is_(True))))
    result = db.session.execute(
        update(SmtpAccount)
        .where(SmtpAccount.id.in_(ids), SmtpAccount.active.is_not(active))
        .values(active=active)
        .execution_options(synchronize_session=False)
    )
    db.session.expire_all()
    accounts_left(changing)
    return result.rowcount


def delete_accounts(ids: Select) -> int:
    """Delete the accounts ``ids`` selects; returns how many were deleted."""
    chosen = list(db.session.scalars(ids))
    if not chosen:
        return 0
    db.session.execute(
        delete(SmtpAccount)
        .where(SmtpAccount.id.in_(chosen))
        .execution_options(synchronize_session=False)
    )
    db.session.expire_all()
    accounts_left(chosen)
    accounts_deleted.send(None, ids=chosen)
    current_app.logger.info("SMTP accounts deleted: %s", chosen)
    return len(chosen)


def check_accounts(accounts: Sequence[SmtpAccount]) -> list[CheckResult]:
    """Check saved accounts side by side and keep each result as its last check.

    The session is released while the checks run (SPEC §10): afterwards the accounts are
    loaded again, and one deleted meanwhile, or a check refused as busy, records nothing.
    """
    timeout = get_module_settings().default_timeout
    ids = [a.id for a in accounts]
    requests, refused = [], {}
    for a in accounts:
        try:
            requests.append(plan_check(settings_for(a, timeout), sender=a.email,
                                       label=a.sender_name or a.email))
        except InvalidSettings as error:  # e.g. a password no key decrypts: no network
            refused[a.id] = CheckResult(False, "unexpected", str(error))
    checked = iter(verify_many(requests))
    results = [refused.get(account_id) or next(checked) for account_id in ids]
    current = {a.id: a for a in db.session.scalars(
        select(SmtpAccount).where(SmtpAccount.id.in_(ids)))}
    for account_id, result in zip(ids, results, strict=True):
        if account_id in current and result.code != BUSY_CODE:
            current[account_id].record_check(result)
    db.session.flush()
    return results


# --- the list -------------------------------------------------------------------------------

@dataclass(frozen=True)
class AccountFilter:
    """«Фильтр + поиск»: activity, address, server and free text."""

    active: str = ""  # "", "Y" or "N"
    email: str = ""
    server: str = ""
    q: str = ""

    def apply(self, query: Select) -> Select:
        """Add this filter's conditions to ``query``."""
        if self.active in ("Y", "N"):
            # "= true", not "IS TRUE": only equality can use the (active, id) index.
            query = query.where(SmtpAccount.active == (self.active == "Y"))
        if self.server.strip():
            query = query.where(SmtpAccount.host == self.server.strip().lower())
        if self.email.strip():
            query = query.where(SmtpAccount.email_normalized.contains(
                self.email.strip().lower(), autoescape=True))
        if self.q.strip():
            text = self.q.strip()
            query = query.where(or_(
                SmtpAccount.sender_name.contains(text, autoescape=True),
                SmtpAccount.email_normalized.contains(text.lower(), autoescape=True),
                SmtpAccount.host.contains(text.lower(), autoescape=True),
                SmtpAccount.login.contains(text, autoescape=True),
            ))
        return query


def matching_ids(account_filter: AccountFilter) -> Select:
    """A SELECT of the ids of every account the filter matches («ДЛЯ ВСЕХ»)."""
    return account_filter.apply(select(SmtpAccount.id))


def count_accounts(account_filter: AccountFilter) -> int:
    """«ВСЕГО»: how many accounts the filter matches (counted on demand only)."""
    return db.session.scalar(account_filter.apply(select(func.count(SmtpAccount.id)))) or 0


def list_page(account_filter: AccountFilter, sort: str, descending: bool, page: int,
              size: int) -> tuple[list[SmtpAccount], bool]:
    """One page of accounts and whether another page follows.

    The ids of the page are found first (an index scan), then only those rows are loaded.
    """
    column = SORT_COLUMNS.get(sort, SmtpAccount.id)
    order = [column.desc() if descending else column.asc()]
    if column is not SmtpAccount.id:
        order.append(SmtpAccount.id.desc() if descending else SmtpAccount.id.asc())
    ids = list(db.session.scalars(
        account_filter.apply(select(SmtpAccount.id)).order_by(*order)
        .limit(size + 1).offset((page - 1) * size)
    ))
    has_next = len(ids) > size
    ids = ids[:size]
    if not ids:
        return [], False
    rows = {a.id: a for a in db.session.scalars(select(SmtpAccount).where(SmtpAccount.id.in_(ids)))}
    return [rows[i] for i in ids], has_next
