"""«Почта»: the user's IMAP mailboxes and the «Настройка SMTP отправки» modal (SPEC §6).

Every page works without JavaScript as plain forms; with HTMX the modal opens over the
list, «Проверить» answers in place and a saved modal closes itself.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_htmx import make_response
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import ObjectDeletedError, StaleDataError

from ..extension import user_key
from ..extensions import db
from ..forms.mail import ConnectMailboxForm, SendingForm
from ..models import LIMIT_WINDOWS, Mailbox, MailProvider
from ..services import mailboxes as service
from ..services.cascade import delete_mailbox, disable_mailbox_sending
from ..services.providers import detect_provider
from ..services.storage import parse_id
from ..smtp import InvalidSettings
from ..smtp.addresses import AddressError
from ..smtp.settings import UnusableSecretError
from .checks import admit_check, check_status, is_refused
from .errors import handle_module_errors
from .helpers import render_page, wants_fragment
from .limits_panel import mailbox_panel

bp = Blueprint("portal_smtp_mail", __name__, url_prefix="/mail")
handle_module_errors(bp)  # storage failures: a Russian 503, not a 500


def _own(mailbox_id: int) -> Mailbox:
    mailbox = service.user_mailbox(current_user, mailbox_id)
    if mailbox is None:
        abort(404)
    return mailbox


def _mailboxes() -> list[Mailbox]:
    return list(db.session.scalars(
        select(Mailbox).where(Mailbox.user_id == user_key(current_user))
        .options(selectinload(Mailbox.sending), selectinload(Mailbox.provider))
        .order_by(Mailbox.id)))


@bp.route("/")
@login_required
def index():
    """The user's mailboxes."""
    return render_page("portal_smtp/mail/index.html", "portal_smtp/mail/_list.html",
                       mailboxes=_mailboxes())


def _provider_choices(form: ConnectMailboxForm) -> None:
    providers = db.session.scalars(select(MailProvider).where(MailProvider.active.is_(True))
                                   .order_by(MailProvider.name)).all()
    form.provider_id.choices = [("", "— не выбран —")] + [(str(p.id), p.name) for p in providers]


@bp.route("/connect", methods=["GET", "POST"])
@login_required
def connect():
    """«Подключить ящик»: provider detected from the address, IMAP login checked first."""
    form = ConnectMailboxForm()
    _provider_choices(form)
    # Every POST runs a check (SPEC §10): counted first, refused in place when over the limit.
    result = admit_check() if request.method == "POST" else None
    if result is None and form.validate_on_submit():
        provider = None
        if not form.manual.data and form.provider_id.data:
            provider_id = parse_id(form.provider_id.data)
            provider = db.session.get(MailProvider, provider_id) if provider_id else None
        data = service.MailboxInput(
            email=form.email.data.strip(), password=form.password.data, provider=provider,
            imap_host=form.imap_host.data or "", imap_port=form.imap_port.data,
            imap_security=form.imap_security.data, login=form.login.data or "")
        try:
            mailbox, result = service.connect_mailbox(current_user, data)
        except (service.MailboxError, InvalidSettings, AddressError) as error:
            form.email.errors.append(str(error))
        else:
            if mailbox is not None:
                db.session.commit()
                flash(f"Ящик {mailbox.email} подключён.", "success")
                return redirect(url_for(".index"))
    status = check_status(result, bool(form.errors))
    return render_template("portal_smtp/mail/connect.html", form=form, result=result), status


@bp.route("/detect")
@login_required
def detect():
    """Which provider an address belongs to (the connect form asks while the user types)."""
    address = request.args.get("email", "")[:254]
    provider = detect_provider(address)
    form = ConnectMailboxForm(formdata=None)
    _provider_choices(form)
    form.provider_id.data = str(provider.id) if provider else ""
    return render_template("portal_smtp/mail/_detected.html", provider=provider, form=form,
                           address=address, oob=True)


@bp.route("/<smtp_id:mailbox_id>/delete", methods=["GET", "POST"])
@login_required
def delete(mailbox_id: int):
    """Delete a mailbox after a confirmation; its sending settings go with it."""
    mailbox = _own(mailbox_id)
    if request.method == "GET":
        return render_page("portal_smtp/mail/confirm_delete.html",
                           "portal_smtp/mail/_confirm_delete.html", mailbox=mailbox)
    email = mailbox.email
    delete_mailbox(mailbox, current_user)
    db.session.commit()
    flash(f"Ящик {email} удалён вместе с настройками отправки.", "success")
    return redirect(url_for(".index"))


# --- «Настройка SMTP отправки» -------------------------------------------------------------

def _sending_form(mailbox: Mailbox, formdata=None) -> SendingForm:
    sending = mailbox.sending
    form = SendingForm(formdata=formdata, obj=sending) if formdata is not None else \
        SendingForm(obj=sending)
    form.provider_mode = service.provider_can_send(mailbox)
    form.has_stored_password = bool(sending is not None and sending.password)
    offered = service.crm_sender_to_offer(mailbox)
    form.offered = offered
    form.has_stored_password = form.has_stored_password or offered is not None
    if formdata is None:
        form.password.data = ""
        if sending is not None:
            form.secure.data = sending.security != "none"
        if offered is not None:  # pre-fill from the CRM sender of the same address
            form.host.data, form.port.data = offered.smtp_host, offered.smtp_port
            form.secure.data = offered.smtp_security != "none"
            form.auth_mode.data = "custom" if offered.smtp_login else "none"
            form.login.data = offered.smtp_login
            for name in LIMIT_WINDOWS:  # its limits too: the same server, the same quota
                form[name].data = getattr(offered, name)
    return form


def _sending_input(form: SendingForm, mailbox: Mailbox) -> service.SendingInput:
    return service.SendingInput(
        use_provider=form.provider_mode, host=form.host.data or "", port=form.port.data,
        secure=form.secure.data, auth_mode=form.auth_mode.data or "imap",
        login=form.login.data or "", password=form.password.data or "",
        use_offered_password=getattr(form, "offered", None) is not None,
        limits=form.limit_values())


def _modal(mailbox: Mailbox, form: SendingForm, result=None, status: int = 200):
    context = {"mailbox": mailbox, "form": form, "result": result,
               "limits_panel": mailbox_panel(mailbox)}
    if wants_fragment():
        return render_template("portal_smtp/mail/_sending.html", **context), status
    return render_template("portal_smtp/mail/sending.html", **context), status


@bp.route("/<smtp_id:mailbox_id>/smtp")
@login_required
def sending(mailbox_id: int):
    """The «Настройка SMTP отправки» modal (a page without JavaScript)."""
    mailbox = _own(mailbox_id)
    return _modal(mailbox, _sending_form(mailbox))


@bp.route("/<smtp_id:mailbox_id>/smtp/check", methods=["POST"])
@login_required
def sending_check(mailbox_id: int):
    """«Проверить»: check the modal's values, save nothing."""
    mailbox = _own(mailbox_id)
    form = _sending_form(mailbox, request.form)
    result = admit_check()
    if result is None and form.validate():
        result = _run_check(form, mailbox)
    body = render_template("portal_smtp/partials/_check_result.html", form=form, result=result,
                           summary=True)
    return body, 429 if is_refused(result) else 200


def _run_check(form: SendingForm, mailbox: Mailbox):
    try:
        return service.check_sending(mailbox, _sending_input(form, mailbox))
    except InvalidSettings as error:  # a stored password no key decrypts is the password's
        field = form.password if isinstance(error, UnusableSecretError) else form.host
        field.errors.append(str(error))
        return None


@bp.route("/<smtp_id:mailbox_id>/smtp", methods=["POST"])
@login_required
def sending_save(mailbox_id: int):
    """«Сохранить»: check, then save; a failed check saves nothing and keeps the modal open."""
    mailbox = _own(mailbox_id)
    form = _sending_form(mailbox, request.form)
    if not form.enabled.data:
        if mailbox.sending is not None:
            return sending_disable(mailbox_id)
        form.enabled.errors = ["Отметьте «Отправлять через внешний SMTP», чтобы сохранить "
                               "настройки."]
        return _modal(mailbox, form, None, 422)
    result = admit_check()
    if result is None and form.validate():
        result = _run_check(form, mailbox)
        if service.user_mailbox(current_user, mailbox_id) is None:
            abort(404)  # deleted in another tab while the check ran
    if result is None or not result.ok:
        return _modal(mailbox, form, result, check_status(result, True))
    service.save_sending(mailbox, _sending_input(form, mailbox), result)
    db.session.commit()
    return _back_to_list(
        f"Отправка через внешний SMTP для {mailbox.email} настроена. {result.message}")


def _back_to_list(message: str):
    """Close the modal and refresh the list (HTMX), or go back to the list with a flash."""
    if wants_fragment():
        body = render_template("portal_smtp/mail/_list.html", mailboxes=_mailboxes(),
                               message=message)
        return make_response(body, retarget="#mailboxes", reswap="outerHTML",
                             trigger="closeModal")
    flash(message, "success")
    return redirect(url_for(".index"))


@bp.route("/<smtp_id:mailbox_id>/smtp/disable", methods=["POST"])
@login_required
def sending_disable(mailbox_id: int):
    """«Отключить»: remove the mailbox's sending settings."""
    mailbox = _own(mailbox_id)
    disable_mailbox_sending(mailbox, current_user)
    db.session.commit()
    return _back_to_list(f"Отправка через внешний SMTP для {mailbox.email} отключена.")


@bp.route("/<smtp_id:mailbox_id>/smtp/recheck", methods=["POST"])
@login_required
def sending_recheck(mailbox_id: int):
    """The background check the modal starts each time it opens."""
    mailbox = _own(mailbox_id)
    result = admit_check()
    if result is None:
        try:
            result = service.recheck_sending(mailbox)
            db.session.commit()
        except (StaleDataError, ObjectDeletedError):
            # «Отключить» (or «Удалить») removed the settings while this check was running.
            db.session.rollback()
            result = None
    if service.user_mailbox(current_user, mailbox_id) is None:
        abort(404)  # the mailbox itself was deleted meanwhile
    body = render_template("portal_smtp/mail/_recheck.html", mailbox=mailbox, result=result)
    return body, 429 if is_refused(result) else 200
