"""The portal's start page."""
from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import login_required

bp = Blueprint("home", __name__)


@bp.route("/")
@login_required
def index():
    """Start page with the sections the user can open."""
    return render_template("portal/home.html")
