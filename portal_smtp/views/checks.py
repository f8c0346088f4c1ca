"""Admission of the checks pages start (SPEC §10): rate limits per user and per client IP,
and the 429 answer a refused check gets.

Every page that runs a check — an admin account's «Сохранить» and «Проверить» (one or a
group), «Подключить ящик», the «Настройка SMTP отправки» modal (check, save, the re-check on
opening) and a CRM «SMTP-сервера» sender — asks :func:`admit_check` first. The allowance is
one count for all of them (a user cannot multiply it by switching pages), kept in
Flask-Limiter's storage (``RATELIMIT_STORAGE_URI``: Redis in production, so every worker
shares it). A refusal is an ordinary failed :class:`CheckResult`, so each page shows it where
a check's verdict goes, keeping what the user typed, with status 429.
"""
from __future__ import annotations

from flask import current_app
from flask_limiter.util import get_remote_address

from ..config import setting
from ..ratelimit import hit
from ..services.verification import BUSY_CODE
from ..smtp import CheckResult
from .helpers import user_rate_key

#: The code of a check refused by the rate limits (nothing was checked).
RATE_LIMITED_CODE = "rate_limited"
RATE_LIMITED_MESSAGE = ("Слишком много проверок подряд. Подождите минуту и повторите "
                        "попытку.")
#: One bucket for every page that runs a check.
SCOPE = "portal_smtp-check"


def admit_check() -> CheckResult | None:
    """Count one check against the user's and the client IP's allowance
    (``SMTP_CHECK_RATE_LIMIT``, ``SMTP_CHECK_RATE_LIMIT_IP``).

    Returns None when the check may run, else the refusal to show in its place.
    """
    user_ok = hit(setting("SMTP_CHECK_RATE_LIMIT"), SCOPE, user_rate_key())
    ip_ok = hit(setting("SMTP_CHECK_RATE_LIMIT_IP"), SCOPE, f"ip:{get_remote_address()}")
    admitted = user_ok and ip_ok
    if admitted:
        return None
    current_app.logger.info("check refused by the rate limit for %s", user_rate_key())
    return CheckResult(False, RATE_LIMITED_CODE, RATE_LIMITED_MESSAGE)


def is_refused(result: CheckResult | None) -> bool:
    """True for a check that did not run: rate-limited, or no free slot."""
    return result is not None and result.code in (RATE_LIMITED_CODE, BUSY_CODE)


def check_status(result: CheckResult | None, has_errors: bool = False) -> int:
    """The status of a page showing ``result``: 429 for a refused check, 422 for form errors
    or a failed check, else 200."""
    if is_refused(result):
        return 429
    if has_errors or (result is not None and not result.ok):
        return 422
    return 200
