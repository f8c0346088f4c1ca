"""«Почтовые сервисы»: the providers directory for administrators (SPEC §7)."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..forms.mail import ProviderForm
from ..models import Mailbox, MailProvider
from ..services import providers as service
from ..smtp.settings import SECURITY_LABELS
from .helpers import admin_required, render_page


@admin_required
def index():
    """The providers with their domains and how many mailboxes use each."""
    providers = db.session.scalars(select(MailProvider).options(
        selectinload(MailProvider.domains)).order_by(MailProvider.name)).all()
    usage = dict(db.session.execute(select(Mailbox.provider_id, func.count(Mailbox.id))
                                    .group_by(Mailbox.provider_id)).all())
    return render_template("portal_smtp/admin/providers/index.html", providers=providers,
                           usage=usage, security_labels={
                               s.value: label for s, label in SECURITY_LABELS.items()})


@admin_required
def edit(provider_id: int | None = None):
    """Add or change a provider; a domain that belongs to another provider is refused."""
    provider = db.get_or_404(MailProvider, provider_id) if provider_id is not None else None
    form = ProviderForm(obj=provider)
    if provider is None or not provider.oauth_client_secret:
        form.oauth_client_secret.description = ""
    if request.method == "GET":
        form.oauth_client_secret.data = ""
        if provider is not None:
            form.domains.data = "\n".join(d.domain for d in provider.domains)
    if form.validate_on_submit():
        data = service.ProviderInput(
            name=form.name.data.strip(), imap_host=form.imap_host.data,
            imap_port=form.imap_port.data, imap_security=form.imap_security.data,
            smtp_host=form.smtp_host.data, smtp_port=form.smtp_port.data,
            smtp_security=form.smtp_security.data, login_format=form.login_format.data,
            auth_method=form.auth_method.data,
            oauth_client_id=(form.oauth_client_id.data or "").strip(),
            oauth_client_secret=form.oauth_client_secret.data or "", active=form.active.data,
            domains=form.domain_list(), limits=form.limit_values())
        try:
            provider = service.save_provider(provider, data)
        except service.ProviderError as error:
            db.session.rollback()
            form.domains.errors.append(str(error))
        else:
            db.session.commit()
            flash(f"Почтовый сервис «{provider.name}» сохранён.", "success")
            return redirect(url_for(".providers"))
    status = 422 if form.errors else 200
    return render_template("portal_smtp/admin/providers/form.html", form=form,
                           provider=provider), status


@admin_required
def delete(provider_id: int):
    """Delete a provider after a confirmation; refused while mailboxes use it."""
    provider = db.get_or_404(MailProvider, provider_id)
    if request.method == "GET":
        return render_page("portal_smtp/admin/providers/confirm_delete.html",
                           "portal_smtp/admin/providers/_confirm_delete.html",
                           provider=provider, in_use=service.mailboxes_using(provider))
    name = provider.name
    try:
        service.delete_provider(provider)
    except service.ProviderError as error:
        flash(str(error), "error")
        return redirect(url_for(".providers"))
    db.session.commit()
    flash(f"Почтовый сервис «{name}» удалён.", "success")
    return redirect(url_for(".providers"))
