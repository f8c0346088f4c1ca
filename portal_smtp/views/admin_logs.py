"""«Логи отправки писем»: letters with their attempts, filters kept in the URL, «Повторить»."""
from __future__ import annotations

from datetime import date
from email import policy
from email.parser import BytesParser
from typing import ClassVar

from flask import flash, redirect, render_template, request, url_for

from ..extensions import db
from ..models import OutboxMessage, OutboxStatus
from ..models.outbox import STATUS_LABELS
from ..services.outbox import SendRefused, retry_letter
from ..services.send_logs import (
    FIRST_DAY,
    LAST_DAY,
    LogFilter,
    account_label,
    account_labels,
    count_letters,
    day_in_range,
    list_letters,
)
from .helpers import admin_required, render_page
from .listing import PAGE_SIZES, ListState

LETTER_STATUSES = tuple(status.value for status in OutboxStatus)


class LogListState(ListState):
    """The log's filters as its URL carries them."""

    endpoint = "portal_smtp_admin.logs"
    fields: ClassVar[dict[str, int]] = {"status": 16, "date_from": 10, "date_to": 10,
                                        "address": 254, "account": 254}

    def __init__(self, args) -> None:
        super().__init__(args)
        self.errors: list[str] = []
        if self.values["status"] not in LETTER_STATUSES:
            self.values["status"] = ""
        self.filter = LogFilter(
            status=self.values["status"],
            date_from=self._date("date_from", "Дата «с»"),
            date_to=self._date("date_to", "Дата «по»"),
            address=self.values["address"],
            account=self.values["account"],
        )
        if self.filter.date_from and self.filter.date_to and \
                self.filter.date_from > self.filter.date_to:
            self.errors.append("Дата «с» позже даты «по» — за такой период писем быть не может.")

    def _date(self, name: str, label: str) -> date | None:
        value = self.values[name]
        if not value:
            return None
        try:
            day = date.fromisoformat(value)
        except ValueError:
            self.errors.append(f"{label}: некорректная дата «{value}», фильтр не применён.")
            self.values[name] = ""
            return None
        if not day_in_range(day):
            self.errors.append(
                f"{label}: дата «{value}» вне допустимого диапазона "
                f"({FIRST_DAY:%d.%m.%Y} — {LAST_DAY:%d.%m.%Y}), фильтр не применён.")
            self.values[name] = ""
            return None
        return day


def _table(state: LogListState) -> dict[str, object]:
    rows, has_next = list_letters(state.filter, state.page, state.size)
    total = count_letters(state.filter) if state.show_total else None
    if not rows and state.page > 1:
        total = count_letters(state.filter) if total is None else total
        state.page = state.last_page(total)
        rows, has_next = list_letters(state.filter, state.page, state.size)
    return {"rows": rows, "has_next": has_next, "state": state, "total": total,
            "page_sizes": PAGE_SIZES, "statuses": LETTER_STATUSES, "labels": STATUS_LABELS,
            "accounts": account_labels(rows)}


@admin_required
def index():
    """The letters, newest first (the table alone for HTMX requests)."""
    state = LogListState(request.args)
    return render_page("portal_smtp/admin/logs/page.html", "portal_smtp/admin/logs/_table.html",
                       **_table(state))


@admin_required
def count():
    """«ВСЕГО: n» for the current filter."""
    state = LogListState(request.args)
    return render_template("portal_smtp/admin/accounts/_count.html",
                           total=count_letters(state.filter))


@admin_required
def detail(letter_id: int):
    """One letter: its headers and every delivery attempt."""
    letter = db.get_or_404(OutboxMessage, letter_id)
    headers = BytesParser(policy=policy.default).parsebytes(letter.raw, headersonly=True)
    return render_template("portal_smtp/admin/logs/detail.html", letter=letter,
                           headers=list(headers.items()), account=account_label(letter),
                           back=request.args.get("back", ""))


@admin_required
def retry(letter_id: int):
    """«Повторить»: queue a failed letter again."""
    letter = db.get_or_404(OutboxMessage, letter_id)
    try:
        retry_letter(letter)
    except SendRefused as error:
        flash(str(error), "error")
    else:
        db.session.commit()
        flash("Письмо снова поставлено в очередь.", "success")
    back = request.form.get("back", "")
    return redirect(url_for(".log_detail", letter_id=letter.id, back=back or None))
