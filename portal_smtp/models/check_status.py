"""The last check's result, kept on every object whose SMTP settings are checked (SPEC §3)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..smtp import CheckResult


class CheckStatusMixin:
    """Columns and helpers for «последняя проверка»."""

    #: When the settings were last checked (UTC).
    last_check_at: Mapped[datetime | None]
    #: Whether that check passed.
    last_check_ok: Mapped[bool | None]
    #: Its machine code (SPEC §3).
    last_check_code: Mapped[str | None] = mapped_column(String(32))
    #: Its Russian message.
    last_check_message: Mapped[str | None] = mapped_column(Text)

    def record_check(self, result: CheckResult) -> None:
        """Keep ``result`` as the last check."""
        self.last_check_at = result.checked_at
        self.last_check_ok = result.ok
        self.last_check_code = result.code
        self.last_check_message = result.message
