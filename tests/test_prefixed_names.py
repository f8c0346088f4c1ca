"""Everything the module adds to its host carries the ``portal_smtp`` prefix (SPEC §16):
blueprints, endpoints, Jinja filters, tests, globals and context variables. A host's own
``mail`` blueprint or ``local`` filter is never replaced or shadowed, and the URLs stay put."""
from __future__ import annotations

import re

import pytest

from portal_smtp.paths import resource_dir

#: An endpoint named in a template: ``url_for('…')`` or ``portal_smtp_has_endpoint('…')``.
NAMED_ENDPOINT = re.compile(r"""(?:url_for|has_endpoint)\(['"]([\w.]+)['"]""")


def is_module_name(module: str) -> bool:
    """Whether the Python module ``module`` is the extension's (not the demo host's)."""
    return module.startswith("portal_smtp") and not module.startswith("portal_smtp.portal")


def is_module_function(function) -> bool:
    """Whether ``function`` belongs to the module (not to the demo host or a library)."""
    return is_module_name(getattr(function, "__module__", "") or "")


def test_module_blueprints_carry_the_prefix(app):
    # The demo host's own blueprints (auth, home, its CRM …) are named by the host.
    names = {name for name, blueprint in app.blueprints.items()
             if is_module_name(blueprint.import_name)}
    assert names == {"portal_smtp", "portal_smtp_admin", "portal_smtp_mail", "portal_smtp_crm",
                     "portal_smtp_devmail"}


@pytest.mark.parametrize(("path", "endpoint"), [
    ("/admin/smtp/accounts", "portal_smtp_admin.accounts"),
    ("/admin/smtp/logs", "portal_smtp_admin.logs"),
    ("/admin/smtp/settings", "portal_smtp_admin.settings"),
    ("/admin/smtp/providers", "portal_smtp_admin.providers"),
    ("/mail/", "portal_smtp_mail.index"),
    ("/crm/senders/new", "portal_smtp_crm.sender_new"),
    ("/dev/mailbox/", "portal_smtp_devmail.index"),
    ("/portal_smtp/static/portal.js", "portal_smtp.static"),
])
def test_urls_stay_and_their_endpoints_are_prefixed(app, path, endpoint):
    assert app.url_map.bind("localhost").match(path)[0] == endpoint


def test_jinja_names_of_the_module_carry_the_prefix(app):
    env = app.jinja_env
    for kind, names in (("filter", env.filters), ("test", env.tests), ("global", env.globals)):
        added = {name for name, value in names.items() if is_module_function(value)}
        assert added, f"no {kind} of the module found"
        assert {name for name in added if not name.startswith("portal_smtp_")} == set(), kind
    assert {"portal_smtp_local", "portal_smtp_ago", "portal_smtp_plural"} <= set(env.filters)
    assert "portal_smtp_unreadable" in env.tests
    assert "portal_smtp_has_endpoint" in env.globals
    # The old unprefixed names are gone: a host may use them for its own.
    assert not {"local", "ago", "plural"} & set(env.filters)
    assert "smtp_unreadable" not in env.tests
    assert "has_endpoint" not in env.globals


def test_context_variables_of_the_module_carry_the_prefix(app):
    names: set[str] = set()
    with app.test_request_context("/admin/smtp/accounts"):
        for processors in app.template_context_processors.values():
            names |= {name for processor in processors if is_module_function(processor)
                      for name in processor()}
    assert "portal_smtp_module_settings" in names
    assert {name for name in names if not name.startswith("portal_smtp_")} == set()


def test_every_endpoint_the_module_templates_name_is_the_modules(app):
    named = {name for path in (resource_dir("templates") / "portal_smtp").rglob("*.html")
             for name in NAMED_ENDPOINT.findall(path.read_text(encoding="utf-8"))}
    assert "portal_smtp_admin.accounts" in named
    # The module's pages link only to the module: a host's endpoints are not known to it.
    assert {name for name in named if not name.startswith("portal_smtp")} == set()
    assert named - set(app.view_functions) == set()
