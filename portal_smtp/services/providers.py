"""The mail providers directory (SPEC §7): detection by domain, editing, guarded deletion."""
from __future__ import annotations

from dataclasses import dataclass, field

import idna
from sqlalchemy import func, select

from ..extensions import db
from ..models import Mailbox, MailProvider, MailProviderDomain

IN_USE = ("Чтобы удалить почтовый сервис, сначала удалите все почтовые ящики, которые с ним "
          "работают")


class ProviderError(ValueError):
    """A change the directory refuses; the message is Russian and safe to show."""


def normalize_domain(domain: str) -> str:
    """A domain in the form the directory stores: lower case, Unicode (почта.рф)."""
    cleaned = domain.strip().strip(".").lower()
    if cleaned.startswith("@"):
        cleaned = cleaned[1:]
    if not cleaned or " " in cleaned or "@" in cleaned:
        raise ProviderError(f"Некорректный домен: {domain.strip()[:100]}")
    try:
        return idna.decode(idna.encode(cleaned, uts46=True))
    except idna.IDNAError:
        raise ProviderError(f"Некорректный домен: {domain.strip()[:100]}") from None


def detect_provider(address: str) -> MailProvider | None:
    """The active provider whose domain list holds the address's domain."""
    domain = address.rpartition("@")[2]
    try:
        domain = normalize_domain(domain)
    except ProviderError:
        return None
    return db.session.scalar(
        select(MailProvider).join(MailProviderDomain)
        .where(MailProviderDomain.domain == domain, MailProvider.active.is_(True)))


@dataclass
class ProviderInput:
    """What an administrator submits for one provider."""

    name: str
    imap_host: str
    imap_port: int
    imap_security: str
    smtp_host: str
    smtp_port: int
    smtp_security: str
    login_format: str = "email"
    auth_method: str = "basic"
    oauth_client_id: str = ""
    #: Blank keeps the stored secret.
    oauth_client_secret: str = field(default="", repr=False)
    active: bool = True
    domains: list[str] = field(default_factory=list)
    #: The defaults of «Лимиты отправки» for senders of this provider (SPEC §17).
    limits: dict[str, int | None] = field(default_factory=dict)


def save_provider(provider: MailProvider | None, data: ProviderInput) -> MailProvider:
    """Create or change a provider and its domains; a domain of another provider is refused."""
    domains = []
    for raw in data.domains:
        domain = normalize_domain(raw)
        if domain not in domains:
            domains.append(domain)
    taken = db.session.execute(
        select(MailProviderDomain.domain, MailProvider.name).join(MailProvider)
        .where(MailProviderDomain.domain.in_(domains),
               MailProviderDomain.provider_id != (provider.id if provider else -1))).first()
    if taken is not None:
        raise ProviderError(f"Домен {taken[0]} уже принадлежит почтовому сервису «{taken[1]}».")
    provider = provider or MailProvider()
    for name in ("name", "imap_host", "imap_port", "imap_security", "smtp_host", "smtp_port",
                 "smtp_security", "login_format", "auth_method", "oauth_client_id", "active"):
        value = getattr(data, name)
        setattr(provider, name, value.strip().lower() if name.endswith("_host") else value)
    if data.oauth_client_secret:
        provider.oauth_client_secret = data.oauth_client_secret
    for name, value in data.limits.items():
        setattr(provider, name, value)
    existing = {d.domain: d for d in provider.domains}
    provider.domains = [existing.get(d) or MailProviderDomain(domain=d) for d in domains]
    db.session.add(provider)
    db.session.flush()
    return provider


def mailboxes_using(provider: MailProvider) -> int:
    """How many mailboxes work with ``provider``."""
    return db.session.scalar(
        select(func.count(Mailbox.id)).where(Mailbox.provider_id == provider.id)) or 0


def delete_provider(provider: MailProvider) -> None:
    """Delete a provider no mailbox uses; otherwise refuse with SPEC §7's sentence."""
    if mailboxes_using(provider):
        raise ProviderError(IN_USE)
    db.session.delete(provider)
    db.session.flush()
