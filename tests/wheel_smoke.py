"""Run by ``dev.py test`` inside a fresh venv holding only the built wheel: the package must
bring its templates, static files and migrations, and render a page."""
import sys
import tempfile
from pathlib import Path

import portal_smtp
from portal_smtp.portal import create_app
from portal_smtp.schema import upgrade_schema

assert "site-packages" in portal_smtp.__file__, portal_smtp.__file__
folder = Path(tempfile.mkdtemp())
app = create_app({
    "ENV": "testing",
    "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'wheel.db'}",
    "SECRET_KEY": "wheel-smoke",
    "SMTP_DEVMAIL_DIR": str(folder / "devmail"),
})
with app.app_context():
    upgrade_schema()
client = app.test_client()
page = client.get("/login").get_data(as_text=True)
assert "Вход в портал" in page, page[:500]
script = client.get("/portal_smtp/static/htmx.min.js")
assert script.status_code == 200 and b"htmx" in script.data
print("wheel smoke test: login page rendered from", portal_smtp.__file__)
sys.exit(0)
