"""Running SMTP checks inside the application: its policy, EHLO name, module settings and
concurrency bound."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from flask import current_app

from ..config import setting
from ..smtp import CheckResult, NetworkPolicy, SmtpSettings, check
from ..smtp.connection import Resolver, system_resolver
from .module_settings import effective_policy, get_module_settings

BUSY_MESSAGE = "Сейчас выполняется слишком много проверок. Повторите попытку через минуту."


@dataclass(frozen=True)
class CheckRequest:
    """Everything one check needs, gathered inside the app context (SPEC §3)."""

    settings: SmtpSettings
    sender: str
    recipient: str | None
    send_test_letter: bool
    label: str


def plan_check(
    settings: SmtpSettings,
    *,
    sender: str,
    recipient: str | None = None,
    send_test_letter: bool | None = None,
    label: str = "",
) -> CheckRequest:
    """Fill in the module settings: «Выполнять отправку письма при проверке соединения»
    and «Email для тестовых писем» (else the sender's own address)."""
    module = get_module_settings()
    if send_test_letter is None:
        send_test_letter = module.send_test_letter
    if send_test_letter and recipient is None:
        recipient = module.test_email or sender
    return CheckRequest(settings, sender, recipient, send_test_letter, label)


def verify(
    settings: SmtpSettings,
    *,
    sender: str,
    recipient: str | None = None,
    send_test_letter: bool | None = None,
    label: str = "",
    resolver: Resolver = system_resolver,
) -> CheckResult:
    """Check ``settings`` under the app's network policy and module settings.

    At most ``SMTP_MAX_CONCURRENT_CHECKS`` checks run at once per process; a check that
    cannot start within its own timeout returns ``unexpected`` instead of piling up.
    """
    request = plan_check(settings, sender=sender, recipient=recipient,
                         send_test_letter=send_test_letter, label=label)
    return _run(request, effective_policy(), setting("SMTP_EHLO_HOSTNAME"), resolver)


def verify_many(requests: list[CheckRequest]) -> list[CheckResult]:
    """Run several checks side by side (bounded by the same limit); results in order."""
    policy, ehlo = effective_policy(), setting("SMTP_EHLO_HOSTNAME")
    workers = max(1, int(setting("SMTP_MAX_CONCURRENT_CHECKS")))
    app = current_app._get_current_object()

    def run_one(request: CheckRequest) -> CheckResult:
        with app.app_context():
            return _run(request, policy, ehlo, system_resolver)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="smtp-check") as pool:
        return list(pool.map(run_one, requests))


def _run(request: CheckRequest, policy: NetworkPolicy, ehlo: str | None,
         resolver: Resolver) -> CheckResult:
    slots = current_app.extensions["portal_smtp"].check_slots
    if not slots.acquire(timeout=request.settings.timeout):
        return CheckResult(False, "unexpected", f"Ошибка SMTP: {BUSY_MESSAGE}")
    try:
        return check(
            request.settings,
            sender=request.sender,
            recipient=request.recipient,
            send_test_letter=request.send_test_letter,
            policy=policy,
            ehlo_hostname=ehlo,
            label=request.label,
            resolver=resolver,
        )
    finally:
        slots.release()
