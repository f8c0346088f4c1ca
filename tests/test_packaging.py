"""Every package of the module travels in the wheel: setup.cfg lists packages by hand."""
from __future__ import annotations

import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_python_package_is_listed_in_setup_cfg():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    listed = set(config["options"]["packages"].split())
    found = {".".join(init.parent.relative_to(ROOT).parts)
             for init in (ROOT / "portal_smtp").rglob("__init__.py")
             if "__pycache__" not in init.parts}
    assert found - listed == set()
