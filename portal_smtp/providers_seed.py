"""The mail providers the directory ships with (SPEC §7): public IMAP/SMTP endpoints of the
services our users use most. Plain data, read by the migration that fills the directory."""
from __future__ import annotations

#: name, (imap host, port, security), (smtp host, port, security), login format, auth, domains
PROVIDERS = (
    ("Яндекс Почта", ("imap.yandex.ru", 993, "ssl"), ("smtp.yandex.ru", 465, "ssl"), "email",
     "basic", ("yandex.ru", "ya.ru", "yandex.com", "yandex.by", "yandex.kz", "narod.ru")),
    ("Почта Mail.ru", ("imap.mail.ru", 993, "ssl"), ("smtp.mail.ru", 465, "ssl"), "email",
     "basic", ("mail.ru", "inbox.ru", "list.ru", "bk.ru", "internet.ru")),
    ("Gmail", ("imap.gmail.com", 993, "ssl"), ("smtp.gmail.com", 465, "ssl"), "email",
     "basic", ("gmail.com", "googlemail.com")),
    ("Outlook / Office 365", ("outlook.office365.com", 993, "ssl"),
     ("smtp.office365.com", 587, "starttls"), "email", "oauth2",
     ("outlook.com", "hotmail.com", "live.com", "msn.com", "outlook.ru")),
    ("Рамблер Почта", ("imap.rambler.ru", 993, "ssl"), ("smtp.rambler.ru", 465, "ssl"), "email",
     "basic", ("rambler.ru", "lenta.ru", "autorambler.ru", "myrambler.ru", "ro.ru")),
    ("iCloud", ("imap.mail.me.com", 993, "ssl"), ("smtp.mail.me.com", 587, "starttls"),
     "local_part", "basic", ("icloud.com", "me.com", "mac.com")),
    ("Zoho Mail", ("imap.zoho.com", 993, "ssl"), ("smtp.zoho.com", 465, "ssl"), "email", "basic",
     ("zoho.com", "zohomail.com")),
)

#: Default «Лимиты отправки» of the shipped providers (SPEC §17), in recipients: what the
#: services publish for a personal mailbox, as of 2026. They are defaults an administrator
#: edits in «Почтовые сервисы» (business plans allow more, services change them); a sender's
#: own limits win. Only published figures are here — a service whose limits we could not
#: confirm (Mail.ru, Outlook/Office 365, Rambler, Zoho) has none.
#: name → (per minute, per hour, per day, per letter)
PROVIDER_LIMITS = {
    # yandex.com/support/mail: 500 recipients in 24 hours; 35 per letter over SMTP.
    "Яндекс Почта": (None, None, 500, 35),
    # support.google.com/mail: 500 recipients a day for a personal account.
    "Gmail": (None, None, 500, None),
    # support.apple.com/102198: 1,000 recipients a day, 500 per message.
    "iCloud": (None, None, 1000, 500),
}
LIMIT_COLUMNS = ("limit_minute", "limit_hour", "limit_day", "limit_letter")


def seed_directory(connection) -> None:
    """Insert :data:`PROVIDERS` and their domains through ``connection`` (no ORM models, so
    the migration stays valid whatever the models become)."""
    from datetime import UTC, datetime

    import sqlalchemy as sa

    providers = sa.table(
        "portal_smtp_mail_provider", sa.column("id", sa.Integer), sa.column("name", sa.String),
        sa.column("active", sa.Boolean), sa.column("imap_host", sa.String),
        sa.column("imap_port", sa.Integer), sa.column("imap_security", sa.String),
        sa.column("smtp_host", sa.String), sa.column("smtp_port", sa.Integer),
        sa.column("smtp_security", sa.String), sa.column("login_format", sa.String),
        sa.column("auth_method", sa.String), sa.column("oauth_client_id", sa.String),
        sa.column("created_at", sa.DateTime))
    domains = sa.table("portal_smtp_mail_provider_domain", sa.column("provider_id", sa.Integer),
                       sa.column("domain", sa.String))
    now = datetime.now(UTC).replace(tzinfo=None)
    for name, imap, smtp, login_format, auth, names in PROVIDERS:
        provider_id = connection.execute(providers.insert().values(
            name=name, active=True, imap_host=imap[0], imap_port=imap[1], imap_security=imap[2],
            smtp_host=smtp[0], smtp_port=smtp[1], smtp_security=smtp[2],
            login_format=login_format, auth_method=auth, oauth_client_id="", created_at=now,
        ).returning(providers.c.id)).scalar_one()
        connection.execute(domains.insert(), [{"provider_id": provider_id, "domain": d}
                                              for d in names])


def seed_limits(connection) -> int:
    """Set :data:`PROVIDER_LIMITS` on the shipped providers (found by name) that have no
    limit of their own yet — an administrator's values are never overwritten. For the
    migration that adds the limit columns (they do not exist when :func:`seed_directory`
    runs). Returns how many providers were changed."""
    import sqlalchemy as sa

    providers = sa.table("portal_smtp_mail_provider", sa.column("name", sa.String),
                         *(sa.column(name, sa.Integer) for name in LIMIT_COLUMNS))
    unset = sa.and_(*(providers.c[name].is_(None) for name in LIMIT_COLUMNS))
    changed = 0
    for name, values in PROVIDER_LIMITS.items():
        changed += connection.execute(providers.update().where(
            providers.c.name == name, unset).values(dict(zip(LIMIT_COLUMNS, values,
                                                              strict=True)))).rowcount
    return changed
