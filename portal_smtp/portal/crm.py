"""The demo host's small CRM: deals, leads, contacts and companies with a timeline.

The entities are the host's. Each card includes the SMTP module's composer
(``portal_smtp_composer``); the module asks :func:`entity_for_composer` which entity a user
may write from, and announces each queued letter, which :func:`record_letter` puts on the
timeline. Every user sees every entity (a team CRM); its owner and administrators edit and
delete it.
"""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from ..extension import EntityRef
from ..signals import composer_letter_queued
from .extensions import db
from .forms import EntityForm
from .models import ENTITY_KINDS, CrmActivity, CrmEntity, User

bp = Blueprint("crm", __name__, url_prefix="/crm")


def _may_change(entity: CrmEntity) -> bool:
    return current_user.is_admin or entity.owner_id == current_user.id


@bp.route("/", methods=["GET", "POST"])
@login_required
def index():
    """Every entity; a new one from the form."""
    form = EntityForm()
    if form.validate_on_submit():
        entity = CrmEntity(kind=form.kind.data, title=form.title.data.strip(),
                           email=(form.email.data or "").strip(), owner_id=current_user.id)
        db.session.add(entity)
        db.session.commit()
        return redirect(url_for(".entity", entity_id=entity.id))
    entities = db.session.scalars(select(CrmEntity).order_by(CrmEntity.kind, CrmEntity.id)).all()
    return render_template("portal/crm/index.html", entities=entities, form=form,
                           kinds=ENTITY_KINDS), 422 if form.errors else 200


@bp.route("/<int(min=1, max=2147483647):entity_id>")
@login_required
def entity(entity_id: int):
    """An entity's card: its timeline and the SMTP module's composer."""
    item = db.get_or_404(CrmEntity, entity_id)
    author_ids = {a.author_id for a in item.activities if a.author_id}
    authors = {u.id: u.full_name for u in db.session.scalars(
        select(User).where(User.id.in_(author_ids)))} if author_ids else {}
    return render_template("portal/crm/entity.html", entity=item, authors=authors,
                           may_change=_may_change(item))


@bp.route("/<int(min=1, max=2147483647):entity_id>/edit", methods=["GET", "POST"])
@login_required
def edit(entity_id: int):
    """Change an entity's type, name or client address."""
    item = db.get_or_404(CrmEntity, entity_id)
    if not _may_change(item):
        abort(403)
    form = EntityForm(obj=item)
    if form.validate_on_submit():
        item.kind, item.title = form.kind.data, form.title.data.strip()
        item.email = (form.email.data or "").strip()
        db.session.commit()
        flash("Изменения сохранены.", "success")
        return redirect(url_for(".entity", entity_id=item.id))
    return render_template("portal/crm/edit.html", entity=item, form=form), \
        422 if form.errors else 200


@bp.route("/<int(min=1, max=2147483647):entity_id>/delete", methods=["GET", "POST"])
@login_required
def delete(entity_id: int):
    """Delete an entity with its timeline, after a confirmation page."""
    item = db.get_or_404(CrmEntity, entity_id)
    if not _may_change(item):
        abort(403)
    form = EntityForm(obj=item)
    if form.is_submitted():
        if not form.csrf_token.validate(form):
            abort(400)
        title = item.title
        db.session.delete(item)
        db.session.commit()
        flash(f"«{title}» удалено.", "success")
        return redirect(url_for(".index"))
    return render_template("portal/crm/delete.html", entity=item, form=form)


def entity_for_composer(kind: str, entity_id: str, user: User) -> EntityRef | None:
    """The module's lookup: the entity a user may write from (every user, in this CRM)."""
    if not entity_id.isdigit() or int(entity_id) > 2**31 - 1:
        return None
    item = db.session.get(CrmEntity, int(entity_id))
    if item is None or item.kind != kind:
        return None
    return EntityRef(item.kind, str(item.id), item.title, item.email)


@composer_letter_queued.connect
def record_letter(sender, *, outbox_id: int, entity: EntityRef, user: User, subject: str,
                  summary: str, **extra) -> None:
    """A letter queued from a card goes on its timeline (in the module's transaction)."""
    if current_app.extensions.get("sqlalchemy") is not db:
        return  # another host in this process
    if entity.kind not in ENTITY_KINDS or not entity.id.isdigit():
        return
    db.session.add(CrmActivity(entity_id=int(entity.id), kind="email", author_id=user.id,
                               subject=subject, summary=summary, outbox_id=outbox_id))
