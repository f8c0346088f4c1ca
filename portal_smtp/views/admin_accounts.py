"""«SMTP-аккаунты»: the list with filters and group actions, the form and «Проверить»."""
from __future__ import annotations

from typing import ClassVar
from urllib.parse import parse_qsl

from flask import abort, flash, redirect, render_template, request, url_for
from flask_htmx import make_response
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from ..extensions import db, htmx
from ..forms.accounts import AccountForm
from ..models import SmtpAccount
from ..services import accounts as service
from ..services.limits import own_limits
from ..services.storage import db_id
from ..smtp import InvalidSettings
from ..smtp.settings import UnusableSecretError
from .checks import admit_check, check_status, is_refused
from .helpers import admin_required, render_page
from .limits_panel import account_panel, compact, describe
from .listing import PAGE_SIZES, ListState

GROUP_ACTIONS = {"activate", "deactivate", "check", "delete"}
#: A group «Проверить» runs in the request; more than this at once is refused.
MAX_GROUP_CHECK = 50


# --- the list -----------------------------------------------------------------------------

class AccountListState(ListState):
    """«Список SMTP-аккаунтов» as its URL carries it."""

    endpoint = "portal_smtp_admin.accounts"
    fields: ClassVar[dict[str, int]] = {"active": 1, "email": 254, "server": 253, "q": 200}
    sorts = tuple(service.SORT_COLUMNS)

    def __init__(self, args) -> None:
        super().__init__(args)
        if self.values["active"] not in ("Y", "N"):
            self.values["active"] = ""
        self.filter = service.AccountFilter(**self.values)


def _table(state: ListState, message: str = ""):
    rows, has_next = service.list_page(state.filter, state.sort, state.descending, state.page,
                                       state.size)
    total = service.count_accounts(state.filter) if state.show_total else None
    if not rows and state.page > 1:
        # A page past the end (rows deleted, a stale link): show the last page instead.
        total = service.count_accounts(state.filter) if total is None else total
        state.page = state.last_page(total)
        rows, has_next = service.list_page(state.filter, state.sort, state.descending,
                                           state.page, state.size)
    return {"rows": rows, "has_next": has_next, "state": state, "message": message,
            "page_sizes": PAGE_SIZES, "total": total,
            "limits_text": {a.id: (compact(own_limits(a)), describe(own_limits(a))) for a in rows}}


@admin_required
def index():
    """«Список SMTP-аккаунтов» (the table alone for HTMX requests)."""
    state = AccountListState(request.args)
    return render_page("portal_smtp/admin/accounts/page.html",
                       "portal_smtp/admin/accounts/_table.html", **_table(state))


@admin_required
def count():
    """«ВСЕГО: n», counted only when asked."""
    state = AccountListState(request.args)
    total = service.count_accounts(state.filter)
    return render_template("portal_smtp/admin/accounts/_count.html", total=total)


def _selected_ids(state: ListState):
    if request.form.get("for_all"):
        return service.matching_ids(state.filter)
    ids = request.form.getlist("ids", type=db_id)  # ids the database can hold, else skipped
    return select(SmtpAccount.id).where(SmtpAccount.id.in_(ids))


@admin_required
def group_action():
    """Activate, deactivate, check or delete the checked rows or «ДЛЯ ВСЕХ»."""
    state = AccountListState(MultiDict(parse_qsl(request.form.get("list_query", ""))))
    action = request.form.get("action", "")
    if action not in GROUP_ACTIONS:
        abort(400)
    ids = _selected_ids(state)
    chosen = db.session.scalar(select(db.func.count()).select_from(ids.subquery())) or 0
    if chosen == 0:
        return _after_group(state, "Отметьте хотя бы один аккаунт.", "error")
    if action == "delete" and not request.form.get("confirm"):
        return _confirm_delete(state, chosen)
    if action in ("activate", "deactivate"):
        changed = service.set_active(ids, action == "activate")
        word = "Активировано" if action == "activate" else "Деактивировано"
        message = f"{word} аккаунтов: {changed}."
    elif action == "delete":
        message = f"Удалено аккаунтов: {service.delete_accounts(ids)}."
    else:
        if chosen > MAX_GROUP_CHECK:
            return _after_group(state, f"Проверить можно не больше {MAX_GROUP_CHECK} "
                                       f"аккаунтов за раз, отмечено {chosen}.", "error")
        refusal = admit_check()
        if refusal is not None:
            return _after_group(state, refusal.message, "error", 429)
        accounts = list(db.session.scalars(select(SmtpAccount).where(SmtpAccount.id.in_(ids))))
        # The session is released during the checks: labels are read before.
        labels = [f"#{a.id} {a.email}" for a in accounts]
        results = service.check_accounts(accounts)
        if results and all(is_refused(r) for r in results):
            return _after_group(state, results[0].message, "error", 429)
        passed = sum(result.ok for result in results)
        message = f"Проверено аккаунтов: {len(results)}, успешно: {passed}, с ошибками: " \
                  f"{len(results) - passed}."
        failures = [f"{label}: {r.message}" for label, r in zip(labels, results, strict=True)
                    if not r.ok]
        if failures:
            message += " " + " ".join(failures[:5]) + (" …" if len(failures) > 5 else "")
    db.session.commit()
    return _after_group(state, message, "success")


def _confirm_delete(state: ListState, chosen: int):
    context = {"state": state, "chosen": chosen, "form": request.form}
    if htmx:
        body = render_template("portal_smtp/admin/accounts/_confirm_delete.html", **context)
        return make_response(body, retarget="#modal-content", reswap="innerHTML")
    return render_template("portal_smtp/admin/accounts/confirm_delete.html", **context)


def _after_group(state: ListState, message: str, category: str, status: int = 200):
    if htmx:
        body = render_template("portal_smtp/admin/accounts/_table.html", partial=True,
                               **_table(state, message), message_category=category)
        return make_response(body, status, retarget="#accounts-table", reswap="outerHTML",
                             trigger="closeModal")
    flash(message, category)
    if status == 429:  # a refused check: the list with the message, and the status says why
        body = render_template("portal_smtp/admin/accounts/page.html", partial=False,
                               **_table(state))
        return body, status
    return redirect(state.url())


# --- the form -----------------------------------------------------------------------------

@admin_required
def edit(account_id: int | None = None):
    """«Параметры SMTP-аккаунта»: every save is verified first; a failed check saves nothing."""
    account = db.get_or_404(SmtpAccount, account_id) if account_id is not None else None
    form = AccountForm(obj=account)
    form.has_stored_password = bool(account is not None and account.password)
    if account is not None and request.method == "GET":
        form.password.data = ""
    # Every POST runs a check (SPEC §10): counted first, refused in place when over the limit.
    result = admit_check() if request.method == "POST" else None
    if result is None and form.validate_on_submit():
        action = request.form.get("action", "save")
        result = _verify_form(form, account)
        if account_id is not None and db.session.get(SmtpAccount, account_id) is None:
            abort(404)  # deleted by someone else while the check ran
        if result is not None and result.ok and action != "check":
            account = service.save_account(account, form.to_input(), result)
            db.session.commit()
            flash(f"SMTP-аккаунт {account.email} сохранён. {result.message}", "success")
            if action == "apply":
                return redirect(url_for(".account_edit", account_id=account.id))
            if action == "save_add":
                return redirect(url_for(".account_new"))
            return redirect(url_for(".accounts"))
    panel = account_panel(account, form.email.data if request.method == "POST" else "")
    page = render_template("portal_smtp/admin/accounts/form.html", form=form, account=account,
                           result=result, limits_panel=panel)
    return page, check_status(result, bool(form.errors))


def _verify_form(form: AccountForm, account: SmtpAccount | None):
    try:
        return service.check_input(form.to_input(), account)
    except InvalidSettings as error:  # a stored password no key decrypts is the password's
        field = form.password if isinstance(error, UnusableSecretError) else form.host
        field.errors.append(str(error))
        return None


@admin_required
def check():
    """«Проверить» over HTMX: runs the check on the form's values and saves nothing."""
    account_id = request.form.get("account_id", type=db_id)
    account = db.session.get(SmtpAccount, account_id) if account_id else None
    form = AccountForm()
    form.has_stored_password = bool(account is not None and account.password)
    result = admit_check()
    if result is None and form.validate():
        result = _verify_form(form, account)
    body = render_template("portal_smtp/partials/_check_result.html", form=form,
                           result=result, summary=True)
    return body, 429 if is_refused(result) else 200
