"""«Пользователи»: the demo host's user administration page, for administrators.

List with a filter (text, active state) and pages kept in the URL; add a user, change his
name, address and role, reset his password, deactivate or activate him, delete him after a
confirmation page. Each view loads the user or 404s, validates, calls one operation of
:mod:`.user_operations`, commits, and sends the browser back to the list as it was.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, or_, select

from .extensions import db, login_manager
from .models import User
from .user_forms import PasswordForm, UserAddForm, UserEditForm
from .user_operations import (
    UserError,
    change_password,
    create_user,
    delete_user,
    set_active,
    update_user,
)

bp = Blueprint("users", __name__, url_prefix="/users")

PAGE_SIZE = 20
#: The «Состояние» filter: URL value → (label, condition).
STATES = {"": "Все", "active": "Активные", "inactive": "Отключённые"}
#: The largest id an INTEGER column holds; a bigger one is no user (404, not a database error).
MAX_ID = 2**31 - 1


@bp.before_request
def administrators_only():
    """Anonymous visitors go to the login page; users who are not administrators get 403."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.is_admin:
        abort(403)
    return None


def list_args(values: Any) -> dict[str, Any]:
    """The list's state (``q``, ``state``, ``page``) from a query string or a form, cleaned:
    what the list links carry and where every action returns to."""
    args: dict[str, Any] = {}
    text = (values.get("q") or "").replace("\x00", "").strip()[:200]  # PostgreSQL refuses NUL
    if text:
        args["q"] = text
    if values.get("state") in STATES and values.get("state"):
        args["state"] = values["state"]
    page = values.get("page") or ""
    # ASCII digits only: str.isdigit() also accepts «²», which int() refuses.
    if page.isascii() and page.isdigit() and 1 < int(page) <= 10**6:
        args["page"] = int(page)
    return args


def _load(user_id: int) -> User:
    """The user with this id, or 404."""
    user = db.session.get(User, user_id) if user_id <= MAX_ID else None
    if user is None:
        abort(404)
    return user


def _back():
    """Back to the list with the filter and page the action was started from."""
    return redirect(url_for("users.index", **list_args(request.form)))


@bp.route("")
def index():
    """The list of users: filter by text (login, name, address) and state, 20 to a page."""
    args = list_args(request.args)
    query = select(User)
    if "q" in args:
        pattern = "%" + args["q"].lower().replace("\\", "\\\\").replace("%", "\\%") \
            .replace("_", "\\_") + "%"
        query = query.where(or_(*(func.lower(column).like(pattern, escape="\\")
                                  for column in (User.username, User.full_name, User.email))))
    if args.get("state"):
        query = query.where(User.active.is_(args["state"] == "active"))
    page = args.get("page", 1)
    rows = db.session.scalars(query.order_by(User.username).offset((page - 1) * PAGE_SIZE)
                              .limit(PAGE_SIZE + 1)).all()
    return render_template("portal/users/index.html", users=rows[:PAGE_SIZE], args=args,
                           page=page, has_next=len(rows) > PAGE_SIZE, states=STATES,
                           page_url=lambda number: _page_url(args, number))


def _page_url(args: dict[str, Any], number: int) -> str:
    """The list with the same filter on page ``number`` (page 1 has no ``page``)."""
    others = {key: value for key, value in args.items() if key != "page"}
    return url_for("users.index", **others, **({"page": number} if number > 1 else {}))


@bp.route("/new", methods=["GET", "POST"])
def new():
    """«Новый пользователь»: login, name, address, role and the password twice."""
    form = UserAddForm()
    if form.validate_on_submit() and _attempt(
            lambda: create_user(form.username.data, form.full_name.data, form.email.data,
                                form.password.data, admin=form.role.data == "admin"),
            form.form_errors.append):
        flash(f"Пользователь {form.username.data.strip()} добавлен.", "success")
        return _back()
    return _form_page(form, "Новый пользователь", None), 422 if form.errors else 200


@bp.route("/<int(min=1, max=2147483647):user_id>/edit", methods=["GET", "POST"])
def edit(user_id: int):
    """«Изменить»: name, address and role."""
    user = _load(user_id)
    form = UserEditForm(obj=user)
    if form.validate_on_submit() and _attempt(
            lambda: update_user(user, form.full_name.data, form.email.data, form.role.data,
                                actor=current_user),
            form.form_errors.append):
        flash(f"Пользователь {user.username} сохранён.", "success")
        return _back()
    return _form_page(form, f"Пользователь {user.username}", user), 422 if form.errors else 200


@bp.route("/<int(min=1, max=2147483647):user_id>/password", methods=["GET", "POST"])
def password(user_id: int):
    """«Сменить пароль»: the user's sessions end."""
    user = _load(user_id)
    form = PasswordForm()
    if form.validate_on_submit() and _attempt(
            lambda: change_password(user, form.password.data), form.form_errors.append):
        flash(f"Пароль пользователя {user.username} изменён.", "success")
        return _back()
    return (_form_page(form, f"Новый пароль: {user.username}", user),
            422 if form.errors else 200)


@bp.route("/<int(min=1, max=2147483647):user_id>/active", methods=["POST"])
def toggle_active(user_id: int):
    """«Отключить» / «Включить» (the posted ``active`` is ``1`` or ``0``)."""
    user = _load(user_id)
    active = request.form.get("active") == "1"
    if _attempt(lambda: set_active(user, active, actor=current_user), _flash_error):
        flash(f"Пользователь {user.username} {'включён' if active else 'отключён'}.", "success")
    return _back()


@bp.route("/<int(min=1, max=2147483647):user_id>/delete", methods=["GET", "POST"])
def delete(user_id: int):
    """Delete after a confirmation page: the SMTP module removes the user's mailboxes and
    CRM senders and fails his waiting letters."""
    user = _load(user_id)
    if request.method == "POST":
        username = user.username
        if _attempt(lambda: delete_user(user, actor=current_user), _flash_error):
            flash(f"Пользователь {username} удалён.", "success")
        return _back()
    blocked = "Нельзя удалить самого себя." if user.id == current_user.id else None
    return render_template("portal/users/confirm_delete.html", user=user, blocked=blocked,
                           args=list_args(request.args))


def _attempt(operation, report) -> bool:
    """Run one user operation: commit what it did, or roll back and ``report`` its Russian
    refusal; returns whether it was done."""
    try:
        operation()
    except UserError as error:
        db.session.rollback()
        report(str(error))
        return False
    db.session.commit()
    return True


def _flash_error(text: str) -> None:
    flash(text, "error")


def _form_page(form, title: str, user: User | None) -> str:
    """One of the user forms, with the list's state to return to."""
    return render_template("portal/users/form.html", form=form, title=title, user=user,
                           args=list_args(request.values))
