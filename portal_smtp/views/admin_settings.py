"""«Настройки» of the module."""
from __future__ import annotations

from flask import flash, redirect, render_template, url_for

from ..extensions import db
from ..forms.accounts import ModuleSettingsForm
from ..ratelimit import in_memory as rate_limits_in_memory
from ..services.health import system_sender_problem
from ..services.module_settings import get_module_settings, save_module_settings
from .helpers import admin_required


@admin_required
def edit():
    """Show and save the module settings."""
    settings = get_module_settings()
    form = ModuleSettingsForm(obj=settings)
    if form.validate_on_submit():
        save_module_settings(
            settings,
            enabled=form.enabled.data,
            send_test_letter=form.send_test_letter.data,
            test_email=(form.test_email.data or "").strip(),
            log_retention_days=form.log_retention_days.data,
            default_timeout=form.default_timeout.data,
            allow_hosts=(form.allow_hosts.data or "").strip(),
            allow_ports=(form.allow_ports.data or "").strip(),
        )
        db.session.commit()
        flash("Настройки сохранены.", "success")
        return redirect(url_for(".settings"))
    status = 422 if form.errors else 200
    return render_template("portal_smtp/admin/settings/page.html", form=form,
                           memory_rate_limits=rate_limits_in_memory(),
                           system_sender_problem=system_sender_problem()), status
