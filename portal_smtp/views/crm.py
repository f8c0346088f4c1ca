"""The minimal CRM: entities with a timeline and the e-mail composer; CRM senders (SPEC §8)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from ..extensions import db, limiter
from ..forms.crm import ComposeForm, EntityForm, SenderForm
from ..models import CrmEntity, CrmSender, EmailTemplate, SenderConfirmation, User
from ..models.crm import ENTITY_KINDS
from ..services import crm as service
from ..services.crm_senders import can_delete, senders_for
from ..services.storage import db_id
from ..smtp import CheckResult, InvalidSettings
from ..smtp.addresses import AddressError
from .checks import admit_check, check_status
from .errors import handle_module_errors
from .helpers import render_page, user_rate_key

bp = Blueprint("crm", __name__, url_prefix="/crm")
handle_module_errors(bp)  # storage failures: a Russian 503, not a 500


@bp.route("/", methods=["GET", "POST"])
@login_required
def index():
    """Deals, leads, contacts and companies; a new one from the form."""
    form = EntityForm()
    if form.validate_on_submit():
        entity = CrmEntity(kind=form.kind.data, title=form.title.data.strip(),
                           email=(form.email.data or "").strip(), owner_id=current_user.id)
        db.session.add(entity)
        db.session.commit()
        return redirect(url_for(".entity", entity_id=entity.id))
    entities = db.session.scalars(select(CrmEntity).order_by(CrmEntity.kind, CrmEntity.id)).all()
    return render_template("portal_smtp/crm/index.html", entities=entities, form=form,
                           kinds=ENTITY_KINDS), 422 if form.errors else 200


def _composer_form(entity: CrmEntity, formdata=None) -> ComposeForm:
    form = ComposeForm(formdata=formdata) if formdata is not None else ComposeForm()
    mailboxes, senders = senders_for(current_user)
    form.sender.choices = [(f"mailbox:{m.id}", f"{current_user.full_name} <{m.email}> — ящик")
                           for m in mailboxes] + [
        (f"sender:{s.id}", f"{s.name or s.email} <{s.email}>"
         + (" — свой SMTP" if s.has_smtp else "") + ("" if s.user_id == current_user.id
                                                      else " — общий")) for s in senders]
    form.template.choices = [("", "— без шаблона —")] + [
        (str(t.id), t.name) for t in service.templates_for(current_user)]
    if formdata is None and entity.email and not form.to.entries[0].data:
        form.to.entries[0].data = entity.email
    return form


def _page(entity: CrmEntity, form: ComposeForm, status: int = 200):
    mailboxes, senders = senders_for(current_user)
    author_ids = {a.author_id for a in entity.activities if a.author_id}
    authors = {u.id: u.full_name for u in db.session.scalars(
        select(User).where(User.id.in_(author_ids)))} if author_ids else {}
    context = {"entity": entity, "form": form, "mailboxes": mailboxes, "senders": senders,
               "authors": authors,
               "can_delete": lambda s: can_delete(current_user, s),
               "letter_status": service.letter_status}
    return render_page("portal_smtp/crm/entity.html", "portal_smtp/crm/_composer.html",
                       **context), status


@bp.route("/<smtp_id:entity_id>")
@login_required
def entity(entity_id: int):
    """An entity's card: timeline, senders and the composer (a template fills it in)."""
    item = db.get_or_404(CrmEntity, entity_id)
    form = _composer_form(item)
    template_id = request.args.get("template", type=db_id)
    if template_id:
        template = db.session.get(EmailTemplate, template_id)
        if template is not None and template.user_id == current_user.id:
            form.subject.data, form.body.data = template.subject, template.body_html
            form.template.data = str(template.id)
    return _page(item, form)


@bp.route("/template")
@login_required
def template_fill():
    """«Шаблон»: the chosen template's subject and body, swapped in without touching the
    other fields the manager has filled in."""
    template = db.session.get(EmailTemplate, request.args.get("template", 0, type=db_id))
    if template is None or template.user_id != current_user.id:
        abort(404)
    return render_template("portal_smtp/crm/_template_fill.html", template=template)


@bp.route("/<smtp_id:entity_id>/email", methods=["POST"])
@login_required
def send(entity_id: int):
    """«Отправить» (queues the letter, adds it to the timeline) or «Сохранить как шаблон»."""
    item = db.get_or_404(CrmEntity, entity_id)
    form = _composer_form(item, request.form)
    if request.form.get("action") == "save_template":
        form.subject.validators = []
        try:
            service.save_template(current_user, form.template_name.data or "",
                                  form.subject.data or "", form.body.data or "")
        except service.CrmError as error:
            form.template_name.errors = [str(error)]
            return _page(item, form, 422)
        db.session.commit()
        flash(f"Шаблон «{form.template_name.data.strip()}» сохранён.", "success")
        form = _composer_form(item, request.form)  # the draft stays as it was typed
        return _page(item, form)
    if not form.validate():
        return _page(item, form, 422)
    data = service.ComposeInput(
        sender=form.sender.data or "", to=service.split_addresses([e.data for e in form.to]),
        cc=service.split_addresses([form.cc.data]), bcc=service.split_addresses([form.bcc.data]),
        subject=form.subject.data.strip(), body_html=form.body.data or "",
        copy_to_me=form.copy_to_me.data, important=form.important.data)
    try:
        activity = service.send_from_entity(current_user, item, data)
    except service.CrmError as error:
        form.subject.errors = [*form.subject.errors, str(error)]
        return _page(item, form, 422)
    db.session.commit()
    letter = service.letter_status(activity)
    if letter is not None and letter.status == "failed":
        flash(f"Письмо не отправлено: {letter.last_error}", "error")
    else:
        flash("Письмо поставлено в очередь на отправку.", "success")
    return redirect(url_for(".entity", entity_id=item.id))


# --- senders ------------------------------------------------------------------------------

@bp.route("/senders/new", methods=["GET", "POST"])
@login_required
@limiter.limit("20/minute", key_func=user_rate_key, methods=["POST"])
def sender_new():
    """«Добавить отправителя»: a code sent to the address, or «SMTP-сервера»."""
    back = request.values.get("back", type=db_id)
    form = SenderForm()
    confirmation = None
    confirmation_id = request.values.get("confirmation", type=db_id)
    if confirmation_id:
        confirmation = db.session.get(SenderConfirmation, confirmation_id)
        if confirmation is None or confirmation.user_id != current_user.id:
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


def _done(back: int | None, message: str):
    db.session.commit()
    flash(message, "success")
    if back:
        return redirect(url_for(".entity", entity_id=back))
    return redirect(url_for(".index"))


@bp.route("/senders/<smtp_id:sender_id>/delete", methods=["POST"])
@login_required
def sender_delete(sender_id: int):
    """Delete a CRM sender the user added."""
    sender = db.get_or_404(CrmSender, sender_id)
    if sender.user_id != current_user.id and not sender.shared:
        abort(404)  # someone else's private sender: as good as missing
    back = request.form.get("back", type=db_id)
    try:
        service.delete_sender(current_user, sender)
    except service.CrmError as error:
        flash(str(error), "error")
    else:
        db.session.commit()
        flash(f"Отправитель {sender.email} удалён.", "success")
    return redirect(url_for(".entity", entity_id=back) if back else url_for(".index"))
