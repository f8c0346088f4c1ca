"""Running SMTP checks inside the application: its policy, EHLO name and concurrency bound."""
from __future__ import annotations

from flask import current_app

from ..config import setting
from ..smtp import CheckResult, SmtpSettings, check
from ..smtp.connection import Resolver, system_resolver

BUSY_MESSAGE = "Сейчас выполняется слишком много проверок. Повторите попытку через минуту."


def verify(
    settings: SmtpSettings,
    *,
    sender: str,
    recipient: str | None = None,
    send_test_letter: bool = False,
    label: str = "",
    resolver: Resolver = system_resolver,
) -> CheckResult:
    """Check ``settings`` under the app's network policy (SPEC §3, §10).

    At most ``SMTP_MAX_CONCURRENT_CHECKS`` checks run at once per process; a check that
    cannot start within its own timeout returns ``unexpected`` instead of piling up.
    """
    state = current_app.extensions["portal_smtp"]
    if not state.check_slots.acquire(timeout=settings.timeout):
        return CheckResult(False, "unexpected", f"Ошибка SMTP: {BUSY_MESSAGE}")
    try:
        return check(
            settings,
            sender=sender,
            recipient=recipient,
            send_test_letter=send_test_letter,
            policy=state.policy,
            ehlo_hostname=setting("SMTP_EHLO_HOSTNAME"),
            label=label,
            resolver=resolver,
        )
    finally:
        state.check_slots.release()
