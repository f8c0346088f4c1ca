"""Where the module's files are: its package, its migrations and its templates and assets.

A module of its own (not the package root) so that the CLI, the blueprints and the demo host
import these paths without importing the extension, and no import cycle runs through
``portal_smtp/__init__.py``.
"""
from __future__ import annotations

from pathlib import Path

#: The installed ``portal_smtp`` package.
PACKAGE_DIR = Path(__file__).resolve().parent
#: The module's own Alembic environment (``flask smtp init-db``).
MIGRATIONS_DIR = str(PACKAGE_DIR / "migrations")


def resource_dir(name: str) -> Path:
    """Where ``templates``/``static`` live: beside the package in a checkout, inside it in a
    built wheel (setup.cfg maps the top-level folders into the package)."""
    for candidate in (PACKAGE_DIR.parent / name, PACKAGE_DIR / name):
        if candidate.is_dir():
            return candidate
    raise RuntimeError(f"portal_smtp: the {name!r} folder is missing from the installation")
