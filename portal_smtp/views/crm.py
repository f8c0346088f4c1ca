"""The CRM composer a host includes on its entity pages, and CRM senders (SPEC §8, §16).

The entities are the host's: it hands the module a lookup (``crm_entity``) that returns the
entity a user may write from, and records each queued letter on its own timeline when the
module announces it (:data:`~portal_smtp.signals.composer_letter_queued`).
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_htmx import make_response
from flask_login import current_user, login_required
from markupsafe import Markup

from ..extension import EntityRef, user_key, user_name
from ..extensions import db, htmx
from ..forms.crm import ComposeForm, SenderForm
from ..models import (
    CrmSender,
    EmailTemplate,
    OutboxStatus,
    SenderConfirmation,
)
from ..ratelimit import hit
from ..services import crm as service
from ..services.crm_senders import can_delete, senders_for
from ..services.storage import db_id
from ..smtp import CheckResult, InvalidSettings
from ..smtp.addresses import AddressError
from .checks import admit_check, check_status
from .errors import handle_module_errors
from .helpers import render_page, user_rate_key

bp = Blueprint("portal_smtp_crm", __name__, url_prefix="/crm")
#: «Добавить отправителя» sends code letters and runs checks: per user and minute.
SENDER_RATE_LIMIT = "20/minute"
handle_module_errors(bp)  # storage failures: a Russian 503, not a 500


def entity_ref(kind: str, entity_id: str) -> EntityRef:
    """The host's entity the current user may write from, or 404 (the host decides)."""
    lookup = current_app.extensions["portal_smtp"].crm_entity
    ref = lookup(kind, entity_id, current_user) if lookup is not None else None
    if ref is None:
        abort(404)
    return ref


def _composer_form(entity: EntityRef, formdata=None) -> ComposeForm:
    form = ComposeForm(formdata=formdata) if formdata is not None else ComposeForm()
    mailboxes, senders = senders_for(current_user)
    key = user_key(current_user)
    form.sender.choices = [(f"mailbox:{m.id}", f"{user_name(current_user)} <{m.email}> — ящик")
                           for m in mailboxes] + [
        (f"sender:{s.id}", f"{s.name or s.email} <{s.email}>"
         + (" — свой SMTP" if s.has_smtp else "") + ("" if s.user_id == key else " — общий"))
        for s in senders]
    form.template.choices = [("", "— без шаблона —")] + [
        (str(t.id), t.name) for t in service.templates_for(current_user)]
    if formdata is None and entity.email and not form.to.entries[0].data:
        form.to.entries[0].data = entity.email
    return form


def composer_context(entity: EntityRef, back: str, form: ComposeForm | None = None,
                     note: str = "") -> dict:
    """What the composer partial needs: the form, the senders and where to return."""
    mailboxes, senders = senders_for(current_user)
    form = form or _composer_form(entity)
    template_id = request.args.get("template", type=db_id)
    if template_id and not form.is_submitted():
        template = db.session.get(EmailTemplate, template_id)
        if template is not None and template.user_id == user_key(current_user):
            form.subject.data, form.body.data = template.subject, template.body_html
            form.template.data = str(template.id)
    return {"entity": entity, "form": form, "mailboxes": mailboxes, "senders": senders,
            "back": back, "note": note, "can_delete": lambda s: can_delete(current_user, s)}


def render_composer(kind: str, entity_id: object, title: str, email: str = "",
                    back: str | None = None) -> Markup:
    """``{{ portal_smtp_composer(kind, id, title, email, back) }}``: the e-mail composer a
    host includes on its entity page (SPEC §16); ``back`` is where to return after sending
    (default: the current page)."""
    entity = EntityRef(kind, str(entity_id), title, email)
    context = composer_context(entity, safe_back(back or request.full_path))
    # On the host's own page: bring the module's scripts (htmx, portal.js) along.
    return Markup(render_template("portal_smtp/crm/_composer.html", standalone=True,
                                  **context))


def safe_back(target: str | None) -> str:
    """A same-site path to return to (no open redirect), else the site's root."""
    if target and target.startswith("/") and not target.startswith("//") and \
            "\\" not in target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target.rstrip("?")
    return "/"


@bp.route("/template")
@login_required
def template_fill():
    """«Шаблон»: the chosen template's subject and body, swapped in without touching the
    other fields the manager has filled in."""
    template = db.session.get(EmailTemplate, request.args.get("template", 0, type=db_id))
    if template is None or template.user_id != user_key(current_user):
        abort(404)
    return render_template("portal_smtp/crm/_template_fill.html", template=template)


@bp.route("/compose/<string(maxlength=32):kind>/<string(maxlength=64):entity_id>",
          methods=["POST"])
@login_required
def send(kind: str, entity_id: str):
    """«Отправить» (queues the letter; the host records it on its timeline) or «Сохранить
    как шаблон». Errors come back in the composer with the draft kept."""
    entity = entity_ref(kind, entity_id)
    back = safe_back(request.form.get("back"))
    form = _composer_form(entity, request.form)
    if request.form.get("action") == "save_template":
        form.subject.validators = []
        try:
            service.save_template(current_user, form.template_name.data or "",
                                  form.subject.data or "", form.body.data or "")
        except service.CrmError as error:
            form.template_name.errors = [str(error)]
            return _composer_reply(entity, back, form, 422)
        db.session.commit()
        note = f"Шаблон «{form.template_name.data.strip()}» сохранён."
        return _composer_reply(entity, back, _composer_form(entity, request.form), 200, note)
    if not form.validate():
        return _composer_reply(entity, back, form, 422)
    data = service.ComposeInput(
        sender=form.sender.data or "", to=service.split_addresses([e.data for e in form.to]),
        cc=service.split_addresses([form.cc.data]), bcc=service.split_addresses([form.bcc.data]),
        subject=form.subject.data.strip(), body_html=form.body.data or "",
        copy_to_me=form.copy_to_me.data, important=form.important.data)
    try:
        outbox_id = service.send_from_composer(current_user, entity, data)
    except service.CrmError as error:
        form.subject.errors = [*form.subject.errors, str(error)]
        return _composer_reply(entity, back, form, 422)
    db.session.commit()
    queued = service.letter(outbox_id)
    if queued is not None and queued.status == OutboxStatus.FAILED:
        flash(f"Письмо не отправлено: {queued.last_error}", "error")
    else:
        flash("Письмо поставлено в очередь на отправку.", "success")
    if htmx:
        return make_response("", 204, redirect=back)
    return redirect(back)


def _composer_reply(entity: EntityRef, back: str, form: ComposeForm, status: int,
                    note: str = ""):
    """The composer again — alone for HTMX, else on a page of its own — with the draft."""
    context = composer_context(entity, back, form, note)
    return render_page("portal_smtp/crm/compose_page.html", "portal_smtp/crm/_composer.html",
                       **context), status


# --- senders ------------------------------------------------------------------------------

@bp.route("/senders/new", methods=["GET", "POST"])
@login_required
def sender_new():
    """«Добавить отправителя»: a code sent to the address, or «SMTP-сервера»."""
    if request.method == "POST" and not hit(SENDER_RATE_LIMIT, "portal_smtp-senders",
                                            user_rate_key()):
        abort(429)  # code letters and checks: a bounded number a minute per user
    back = safe_back(request.values.get("back"))
    form = SenderForm()
    confirmation = None
    confirmation_id = request.values.get("confirmation", type=db_id)
    if confirmation_id:
        confirmation = db.session.get(SenderConfirmation, confirmation_id)
        if confirmation is None or confirmation.user_id != user_key(current_user):
            abort(404)
    result = None
    if request.method == "POST" and form.validate():
        action = request.form.get("action", "code")
        try:
            if action == "smtp":
                result = _add_smtp(form)
                if result is None:
                    return _done(back, "Отправитель с собственным SMTP-сервером добавлен.")
            elif action == "confirm" and confirmation is not None:
                service.confirm_sender(current_user, confirmation, form.code.data or "")
                return _done(back, "Отправитель подтверждён и добавлен.")
            elif action == "resend" and confirmation is not None:
                service.resend_code(current_user, confirmation)
                flash(f"Новый код отправлен на {confirmation.email}.", "info")
            else:
                confirmation = service.start_confirmation(
                    current_user, form.name.data or "", form.email.data, form.shared.data)
                flash(f"Код отправлен на {confirmation.email}. Введите его ниже.", "info")
            db.session.commit()
            if action != "smtp" and confirmation is not None:
                # The code step gets its own address: «Назад» from the mailbox returns here.
                return redirect(url_for(".sender_new", confirmation=confirmation.id,
                                        back=back))
        except (service.CrmError, InvalidSettings, AddressError) as error:
            db.session.commit()  # keeps a counted wrong attempt, nothing else was changed
            field = form.code if action == "confirm" else form.email
            field.errors = [*field.errors, str(error)]
    if request.method == "GET" and confirmation is not None:
        form.name.data, form.email.data = confirmation.name, confirmation.email
        form.shared.data = confirmation.shared
    return render_template("portal_smtp/crm/sender_new.html", form=form, result=result,
                           confirmation=confirmation, back=back), \
        check_status(result, bool(form.errors))


def _add_smtp(form: SenderForm):
    """Check and save an SMTP sender; returns the failed check, or None once saved."""
    refusal = admit_check()  # SPEC §10: checks are rate-limited per user and per IP
    if refusal is not None:
        return refusal
    if not (form.host.data or "").strip():
        form.host.errors = ["Укажите сервер."]
        return CheckResult(False, "invalid", "Укажите адрес SMTP-сервера.")
    data = service.SmtpSenderInput(
        name=form.name.data or "", email=form.email.data, shared=form.shared.data,
        host=form.host.data, port=form.port.data, secure=form.secure.data,
        login=form.login.data or "", password=form.password.data or "")
    sender, result = service.add_smtp_sender(current_user, data)
    if sender is None:
        return result
    db.session.commit()
    return None


def _done(back: str, message: str):
    db.session.commit()
    flash(message, "success")
    return redirect(back)


@bp.route("/senders/<smtp_id:sender_id>/delete", methods=["POST"])
@login_required
def sender_delete(sender_id: int):
    """Delete a CRM sender the user added."""
    sender = db.get_or_404(CrmSender, sender_id)
    if sender.user_id != user_key(current_user) and not sender.shared:
        abort(404)  # someone else's private sender: as good as missing
    back = safe_back(request.form.get("back"))
    try:
        service.delete_sender(current_user, sender)
    except service.CrmError as error:
        flash(str(error), "error")
    else:
        db.session.commit()
        flash(f"Отправитель {sender.email} удалён.", "success")
    return redirect(back)
