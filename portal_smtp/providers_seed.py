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
