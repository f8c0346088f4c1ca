"""«Лимиты отправки» beside a sender's fields (SPEC §17): what its rolling windows hold now,
the directory's defaults that fill its empty fields and, for a mailbox that sends through an
admin account, the account's limits that apply instead of its own."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..extensions import db
from ..models import LIMIT_WINDOWS, Mailbox, MailProvider, SmtpAccount
from ..services import limits
from ..services.providers import detect_provider
from ..services.routing import route_for
from ..smtp.addresses import AddressError, normalize_address

#: How each limit reads after its number: «500 в сутки».
UNITS = {"limit_minute": "в минуту", "limit_hour": "в час", "limit_day": "в сутки",
         "limit_letter": "в одном письме"}
#: The same, short, for a list's badge: «500/сут».
SHORT_UNITS = {"limit_minute": "мин", "limit_hour": "час", "limit_day": "сут",
               "limit_letter": "письмо"}


def number(value: int) -> str:
    """``1200`` → «1 200» (a no-break space between the thousands)."""
    return f"{value:,}".replace(",", "\u00a0")


def _by_column(values: limits.Limits) -> dict[str, int | None]:
    return {name: getattr(values, name.removeprefix("limit_")) for name in LIMIT_WINDOWS}


def describe(values: limits.Limits) -> str:
    """«60 в минуту, 5 000 в сутки, 20 в одном письме»; "" when there is no limit."""
    return ", ".join(f"{number(value)} {UNITS[name]}"
                     for name, value in _by_column(values).items() if value)


def compact(values: limits.Limits) -> str:
    """«60/мин · 5 000/сут» for a list; "" when there is no limit."""
    return " · ".join(f"{number(value)}/{SHORT_UNITS[name]}"
                      for name, value in _by_column(values).items() if value)


def usage_text(usage: dict[int, int]) -> str:
    """«Использовано: 12 за минуту, 340 за час, 1 200 за сутки»."""
    return (f"Использовано: {number(usage[60])} за минуту, {number(usage[3600])} за час, "
            f"{number(usage[86400])} за сутки")


@dataclass(frozen=True)
class LimitsPanel:
    """What the limits fieldset shows beside its four fields."""

    #: «Использовано: …» of the sender's own windows ("" for one not saved yet).
    usage: str = ""
    #: The provider whose defaults apply where a field is empty ("" when none does).
    provider: str = ""
    #: That provider's defaults by column name.
    defaults: dict[str, int | None] = field(default_factory=dict)
    #: For a mailbox without its own sending: whose limits apply to its letters now.
    applies_instead: str = ""

    def placeholder(self, name: str) -> str:
        """«по умолчанию: 500» in an empty field with a default (the line above the fields
        names the provider)."""
        value = self.defaults.get(name)
        return f"по умолчанию: {number(value)}" if value else ""

    def title(self, name: str) -> str:
        """«По умолчанию для «Яндекс Почта»: 500 в сутки» — the field's tooltip."""
        value = self.defaults.get(name)
        return (f"По умолчанию для «{self.provider}»: {number(value)} {UNITS[name]}"
                if value else "")

    @property
    def defaults_text(self) -> str:
        """«Пустое поле — лимит почтового сервиса «Яндекс Почта»: 500 в сутки, …»."""
        shown = describe(limits.Limits(*(self.defaults.get(name) for name in LIMIT_WINDOWS)))
        if not shown:
            return ""
        return f"Где поле пусто, действует лимит почтового сервиса «{self.provider}»: {shown}."


def _defaults(provider: MailProvider | None) -> dict:
    if provider is None:
        return {}
    values = _by_column(limits.own_limits(provider))
    return {"provider": provider.name, "defaults": values} if any(values.values()) else {}


def _provider_of(address: str) -> MailProvider | None:
    """The directory provider of an address's domain; None for one that is not an address
    (the form may hold anything after a refused check)."""
    try:
        normalize_address(address[:254])
    except (AddressError, ValueError, TypeError):
        return None
    return detect_provider(address)


def account_panel(account: SmtpAccount | None, email: str = "") -> LimitsPanel:
    """The panel of an admin account's form; ``email`` is the address the form holds (the
    provider's defaults follow it, before the account is saved too)."""
    address = email or (account.email if account is not None else "")
    provider = _provider_of(address) if address else None
    saved = account is not None and account.id is not None
    return LimitsPanel(usage=usage_text(limits.current_use("account", account.id))
                       if saved else "", **_defaults(provider))


def mailbox_panel(mailbox: Mailbox) -> LimitsPanel:
    """The panel of the «Настройка SMTP отправки» modal."""
    own = mailbox.transport_key is not None
    return LimitsPanel(usage=usage_text(limits.current_use("mailbox", mailbox.id)) if own
                       else "", applies_instead="" if own else _through_account(mailbox),
                       **_defaults(mailbox.provider))


def _through_account(mailbox: Mailbox) -> str:
    """Whose limits apply to a mailbox without its own sending (SPEC §17), or why it cannot
    send at all (SPEC §6)."""
    route = route_for(mailbox.email, mailing=False, sender=mailbox)
    if route.transport is None:
        return f"Ящик пока не может отправлять письма. {route.reason}"
    account = db.session.get(SmtpAccount, route.transport[1])
    applied = describe(limits.limits_of("account", account))
    limits_now = f"действуют его лимиты: {applied}" if applied else "у него лимитов нет"
    return ("Собственная отправка не настроена: письма ящика уходят через SMTP-аккаунт "
            f"портала, и {limits_now}. Лимиты ниже начнут действовать, когда вы сохраните "
            "собственную отправку.")


__all__ = ["LimitsPanel", "account_panel", "compact", "describe", "mailbox_panel", "number",
           "usage_text"]
