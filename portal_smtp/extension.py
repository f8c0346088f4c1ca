"""The Flask extension object: what a host hands the module, and what the module adds.

``PortalSmtp(app, db=db, is_admin=…, base_template=…, content_block=…, parts=…)`` or
``PortalSmtp(db=db, …).init_app(app)``. The host keeps its database, users, login, layout,
CSRF setup and rate limiter; the module adds its own tables (on its own ``MetaData``), its
``portal_smtp_*`` blueprints, the ``smtp`` CLI group, prefixed template filters and globals,
and touches nothing else of the host (SPEC §16).
"""
from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask_login import current_user
from jinja2 import ChoiceLoader, DictLoader
from sqlalchemy import inspect as sa_inspect

from .config import apply_defaults, setting, split_list
from .crypto import SecretBox, box_for_app
from .smtp import NetworkPolicy

#: A user of the host (its own model): the module reads its key, name and address only.
HostUser = Any
#: The parts a host may ask for: admin pages, «Почта», CRM senders and composer, and the
#: development mailbox («Тестовый почтовый ящик»).
PARTS = ("admin", "mail", "crm", "devmail")
#: The template every module page extends; made at ``init_app`` from the host's layout.
LAYOUT = "portal_smtp/layout.html"
_LAYOUT_SOURCE = """{%% extends %(base)r %%}
{%% block %(title)s %%}{%% block portal_smtp_title %%}{%% endblock %%}{%% endblock %%}
{%% block %(content)s %%}{%% include "portal_smtp/_assets.html" %%}
{%% include "portal_smtp/partials/_health_banner.html" %%}
<div class="portal-smtp" hx-headers='{"X-CSRFToken": "{{ portal_smtp_csrf_token() }}"}'>
{%% block portal_smtp_content %%}{%% endblock %%}
<dialog id="modal" aria-labelledby="modal-title"><div id="modal-content"></div></dialog>
</div>{%% endblock %%}
"""


@dataclass(frozen=True)
class EntityRef:
    """A CRM entity of the host, as the composer knows it (SPEC §16): the host owns it."""

    kind: str
    id: str
    title: str
    #: The client's address, offered in «Кому».
    email: str = ""


def _key_reader(python_type: type) -> Callable[[str], Any]:
    """How a stored key (text) reads back as the host's key type."""
    if python_type is uuid.UUID:
        return uuid.UUID
    if python_type is int:
        return int
    return str


def _is_admin(user: Any) -> bool:
    return bool(getattr(user, "is_admin", False))


@dataclass
class ExtensionState:
    """What the extension keeps per application in ``app.extensions["portal_smtp"]``."""

    #: The host's Flask-SQLAlchemy instance.
    db: Any
    #: Whether a user (the host's ``current_user``) administers the module.
    is_admin: Callable[[Any], bool]
    parts: frozenset[str]
    #: The host's user model: its key attribute, and the type its keys read back as.
    #: The host's user model (to find a user by key: health notices go to the owner).
    user_model: Any = None
    user_key_attribute: str = "id"
    user_key_type: Callable[[str], Any] = str
    user_name: Callable[[Any], str] | None = None
    #: ``crm_entity(kind, id, user)``: the host's entity the user may write from, or None.
    crm_entity: Callable[[str, str, Any], Any] | None = None
    secrets: SecretBox | None = None
    policy: NetworkPolicy | None = None
    check_slots: threading.BoundedSemaphore | None = None
    #: Where the module counts while the host has no Flask-Limiter (see :mod:`.ratelimit`).
    own_storage: Any = None


def build_policy(app: Flask) -> NetworkPolicy:
    """The network policy configured for ``app`` (SPEC §10)."""
    return NetworkPolicy.from_entries(
        allow=split_list(setting("SMTP_ALLOW_HOSTS", app)),
        ports=split_list(setting("SMTP_DEFAULT_PORTS", app)),
        extra_ports=split_list(setting("SMTP_ALLOW_PORTS", app)),
    )


class PortalSmtp:
    """The Flask extension.

    :param db: the host's Flask-SQLAlchemy instance; the module's tables live in its database.
    :param user_model: the host's user model (any table name; integer, UUID or text keys).
        The module keeps its primary key, without a foreign key (like Django's
        ``AUTH_USER_MODEL``: referred to by setting, never imported).
    :param user_name: ``user_name(user) -> str`` (default: ``full_name``, ``name`` or
        ``username``).
    :param crm_entity: ``crm_entity(kind, id, user)`` returns the host's CRM entity the
        user may write from as an :class:`EntityRef`, or None (404);
        the composer is refused without it.
    :param is_admin: ``is_admin(user) -> bool`` for the host's user objects (default: their
        ``is_admin`` attribute).
    :param base_template: the host's layout the module's pages extend.
    :param content_block: the block of that layout the pages fill; ``title_block`` likewise
        for the page title.
    :param parts: which parts to mount (default: all but the development mailbox, which also
        needs ``SMTP_DEVELOPMENT`` or a test run).
    """

    def __init__(self, app: Flask | None = None, *, db: Any = None, user_model: Any = None,
                 is_admin: Callable[[Any], bool] = _is_admin,
                 user_name: Callable[[Any], str] | None = None,
                 crm_entity: Callable[[str, str, Any], Any] | None = None,
                 base_template: str = "base.html", content_block: str = "content",
                 title_block: str = "title", parts: Iterable[str] | None = None) -> None:
        self.db = db
        self.user_model = user_model
        self.is_admin = is_admin
        self.user_name = user_name
        self.crm_entity = crm_entity
        self.base_template = base_template
        self.content_block = content_block
        self.title_block = title_block
        self.parts = frozenset(parts if parts is not None else ("admin", "mail", "crm"))
        unknown = self.parts - set(PARTS)
        if unknown:
            raise ValueError(f"unknown portal_smtp parts: {', '.join(sorted(unknown))}")
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Register the module on ``app``."""
        from . import models  # noqa: F401  (declares the tables on the module's MetaData)
        from .cli import smtp_cli
        from .ratelimit import attach_storage, in_memory
        from .views import register_blueprints

        if self.db is None or self.user_model is None:
            raise TypeError("PortalSmtp needs the host's Flask-SQLAlchemy instance and user "
                            "model: PortalSmtp(app, db=db, user_model=User)")
        apply_defaults(app)
        mapper = sa_inspect(self.user_model)
        key_column = mapper.primary_key[0]
        state = ExtensionState(db=self.db, is_admin=self.is_admin, parts=self.parts,
                               user_model=self.user_model,
                               user_key_attribute=mapper.get_property_by_column(key_column).key,
                               user_key_type=_key_reader(key_column.type.python_type),
                               user_name=self.user_name, crm_entity=self.crm_entity)
        app.extensions["portal_smtp"] = state
        state.secrets = box_for_app(app)
        state.policy = build_policy(app)
        state.check_slots = threading.BoundedSemaphore(
            int(setting("SMTP_MAX_CONCURRENT_CHECKS", app)))
        attach_storage(app)
        self._add_layout(app)
        register_blueprints(app, self.parts)
        app.cli.add_command(smtp_cli)
        if in_memory(app):
            app.logger.warning(
                "portal_smtp: rate limits are counted in process memory, so every worker "
                "counts alone. Give the host's Flask-Limiter a Redis storage "
                "(RATELIMIT_STORAGE_URI) or set SMTP_RATELIMIT_STORAGE_URI.")

    def _add_layout(self, app: Flask) -> None:
        """The module's pages extend the host's layout through one small template."""
        source = _LAYOUT_SOURCE % {"base": self.base_template, "content": self.content_block,
                                   "title": self.title_block}
        app.jinja_env.loader = ChoiceLoader([DictLoader({LAYOUT: source}),
                                             app.jinja_env.loader])

    @staticmethod
    def state(app: Flask) -> ExtensionState:
        """The extension's state for ``app``."""
        return app.extensions["portal_smtp"]


def _state() -> ExtensionState:
    from flask import current_app

    return current_app.extensions["portal_smtp"]


def user_key(user: Any) -> Any:
    """The host's key of ``user`` (its primary key), as the module's tables keep it."""
    return getattr(user, _state().user_key_attribute)


def user_name(user: Any) -> str:
    """How the module names ``user`` (sender name, logs): the host's callable, else the
    user's ``full_name``, ``name`` or ``username``."""
    state = _state()
    if state.user_name is not None:
        return state.user_name(user)
    for attribute in ("full_name", "name", "username"):
        value = getattr(user, attribute, None)
        if value:
            return str(value)
    return str(user_key(user))


def user_by_key(key: str) -> Any:
    """The host's user with the key the module keeps (text), or None."""
    state = _state()
    try:
        value = state.user_key_type(key)
    except (TypeError, ValueError):
        return None
    return state.db.session.get(state.user_model, value)


def user_email(user: Any) -> str:
    """The user's own address («Отправить мне копию»), or ""."""
    return str(getattr(user, "email", "") or "")


def current_user_is_admin() -> bool:
    """Whether the logged-in user administers the module (the host's predicate)."""
    from flask import current_app

    return bool(current_user.is_authenticated
                and current_app.extensions["portal_smtp"].is_admin(current_user))
