"""The resolver (SPEC §5): which admin SMTP account sends a letter with this From header.

One indexed query per letter fetches the active accounts with the normalised address
(highest id first); the three steps then choose among those few rows in memory. No cache:
nothing can go stale when an account changes, and the lookup cost does not grow with the
number of accounts.
"""
from __future__ import annotations

from collections.abc import Sequence
from email.headerregistry import Address
from email.message import EmailMessage

from sqlalchemy import select, true

from ..extensions import db
from ..models import SmtpAccount
from ..smtp.addresses import Mailbox, parse_from_header


def candidates(mailbox: Mailbox) -> Sequence[SmtpAccount]:
    """Active accounts whose address matches, highest id first."""
    query = (
        select(SmtpAccount)
        .where(SmtpAccount.email_normalized == mailbox.normalized, SmtpAccount.active == true())
        .order_by(SmtpAccount.id.desc())
    )
    return db.session.scalars(query).all()


def choose(accounts: Sequence[SmtpAccount], name: str, mailing: bool) -> SmtpAccount | None:
    """Apply the three steps to accounts of one address, ordered by id descending."""
    def same_name(account: SmtpAccount) -> bool:
        return (account.sender_name or "").strip() == name

    if mailing:
        flagged = [a for a in accounts if a.mailing_first]
        chosen = next((a for a in flagged if same_name(a)), None) or next(iter(flagged), None)
        if chosen is not None:
            return chosen
    return next((a for a in accounts if same_name(a)), None) or next(iter(accounts), None)


def resolve(from_header: str, *, mailing: bool = False) -> SmtpAccount | None:
    """The account for a letter with this From header, or ``None`` (the caller falls back).

    :param from_header: the From header: ``Name <addr>``, a bare address, RFC 2047 names.
    :param mailing: whether the letter belongs to a mass mailing.
    """
    mailbox = parse_from_header(from_header)
    if mailbox is None:
        return None
    return choose(candidates(mailbox), mailbox.name, mailing)


def apply_sender_name(message: EmailMessage, account: SmtpAccount) -> None:
    """Put the account's sender name into From only when the letter has no name of its own."""
    mailbox = parse_from_header(str(message["From"] or ""))
    if mailbox is None or mailbox.name or not account.sender_name.strip():
        return
    local, _, domain = mailbox.address.rpartition("@")
    del message["From"]
    message["From"] = Address(display_name=account.sender_name.strip(), username=local,
                              domain=domain)
