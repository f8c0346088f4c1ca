"""Objects for tests, stored directly (no SMTP check) when the check is not the point."""
from __future__ import annotations

from portal_smtp.extensions import db
from portal_smtp.models import SmtpAccount
from portal_smtp.smtp.addresses import normalize_address


def make_account(email: str, name: str = "", *, active: bool = True, mailing_first: bool = False,
                 host: str = "smtp.example.com", port: int = 465, security: str = "ssl",
                 auth: str = "login", login: str | None = None, password: str = "secret-pass",
                 commit: bool = True) -> SmtpAccount:
    """Add one admin SMTP account (inside an app context)."""
    account = SmtpAccount(
        sender_name=name, email=email, email_normalized=normalize_address(email), host=host,
        port=port, security=security, auth=auth, login=login if login is not None else email,
        password=password, active=active, mailing_first=mailing_first,
    )
    db.session.add(account)
    db.session.flush()
    if commit:
        db.session.commit()
    return account
