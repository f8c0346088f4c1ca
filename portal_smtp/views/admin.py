"""URL map of «Сервисы → Отправка почты через SMTP» (administrators only)."""
from __future__ import annotations

from flask import Blueprint

from ..services.module_settings import get_module_settings
from . import admin_accounts as accounts
from . import admin_logs as logs
from . import admin_providers as providers
from . import admin_settings as settings
from . import admin_status as status
from .errors import handle_module_errors

bp = Blueprint("portal_smtp_admin", __name__, url_prefix="/admin/smtp")
handle_module_errors(bp)  # storage failures: a Russian 503, not a 500


@bp.context_processor
def module_state() -> dict[str, object]:
    """Every admin page warns when the module is switched off (a prefixed name: the host's
    base template renders in the same context)."""
    return {"portal_smtp_module_settings": get_module_settings()}


bp.add_url_rule("/settings", "settings", settings.edit, methods=["GET", "POST"])
bp.add_url_rule("/status", "status", status.index)
bp.add_url_rule("/accounts", "accounts", accounts.index)
bp.add_url_rule("/accounts/count", "accounts_count", accounts.count)
bp.add_url_rule("/accounts/group", "accounts_group", accounts.group_action, methods=["POST"])
bp.add_url_rule("/accounts/new", "account_new", accounts.edit, methods=["GET", "POST"])
bp.add_url_rule("/accounts/<smtp_id:account_id>", "account_edit", accounts.edit,
                methods=["GET", "POST"])
bp.add_url_rule("/accounts/check", "account_check", accounts.check, methods=["POST"])
bp.add_url_rule("/logs", "logs", logs.index)
bp.add_url_rule("/logs/count", "logs_count", logs.count)
bp.add_url_rule("/logs/<smtp_id:letter_id>", "log_detail", logs.detail)
bp.add_url_rule("/logs/<smtp_id:letter_id>/retry", "log_retry", logs.retry, methods=["POST"])
bp.add_url_rule("/providers", "providers", providers.index)
bp.add_url_rule("/providers/new", "provider_new", providers.edit, methods=["GET", "POST"])
bp.add_url_rule("/providers/<smtp_id:provider_id>", "provider_edit", providers.edit,
                methods=["GET", "POST"])
bp.add_url_rule("/providers/<smtp_id:provider_id>/delete", "provider_delete", providers.delete,
                methods=["GET", "POST"])
