"""The state of a filtered, sorted, paged list as its URL carries it.

A reload or a shared link shows the same rows: every control of a list builds its links
from :meth:`ListState.url`, and HTMX requests push that URL into the address bar.
"""
from __future__ import annotations

from typing import ClassVar
from urllib.parse import urlencode

from flask import url_for

PAGE_SIZES = (10, 20, 50, 100, 200)
DEFAULT_PAGE_SIZE = 20


class ListState:
    """Filter values, sort, page and page size of one list; subclasses name the endpoint,
    the filter fields (with their maximum lengths) and the sort keys."""

    endpoint: ClassVar[str]
    #: Filter field → longest accepted value.
    fields: ClassVar[dict[str, int]] = {}
    #: Sort keys; the first is the default, descending.
    sorts: ClassVar[tuple[str, ...]] = ("id",)

    def __init__(self, args) -> None:
        # NUL never belongs in a filter, and PostgreSQL refuses to compare with one
        self.values = {name: args.get(name, "").replace("\x00", "")[:limit]
                       for name, limit in self.fields.items()}
        sort = args.get("sort", self.sorts[0])
        self.sort = sort if sort in self.sorts else self.sorts[0]
        default_dir = "desc" if self.sort == self.sorts[0] else "asc"
        self.descending = args.get("dir", default_dir) == "desc"
        size = args.get("size", type=int)
        self.size = size if size in PAGE_SIZES else DEFAULT_PAGE_SIZE
        self.page = max(1, min(args.get("page", 1, type=int) or 1, 1_000_000))
        #: «ВСЕГО» was asked for without JavaScript (a plain link).
        self.show_total = args.get("total") == "1"

    @property
    def filtered(self) -> bool:
        """Whether any filter field is set."""
        return any(self.values.values())

    def args(self, **changes) -> dict[str, object]:
        """Query arguments of this state with ``changes``; defaults are left out."""
        values = {**self.values, "sort": self.sort, "dir": "desc" if self.descending else "asc",
                  "size": self.size, "page": self.page} | changes
        defaults = {"sort": self.sorts[0], "dir": "desc", "size": DEFAULT_PAGE_SIZE, "page": 1}
        return {k: v for k, v in values.items() if v not in ("", None) and defaults.get(k) != v}

    def url(self, **changes) -> str:
        return url_for(self.endpoint, **self.args(**changes))

    def query_string(self) -> str:
        return urlencode(self.args())

    def sort_url(self, key: str) -> str:
        descending = not self.descending if key == self.sort else key == self.sorts[0]
        return self.url(sort=key, dir="desc" if descending else "asc", page=1)

    def last_page(self, total: int) -> int:
        """The number of the last page for ``total`` rows."""
        return max(1, -(-total // self.size))
