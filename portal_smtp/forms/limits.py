"""«Лимиты отправки» (SPEC §17): the same four optional fields on every form that edits a
sender or a provider's defaults."""
from __future__ import annotations

import re

from wtforms.validators import NumberRange, Optional

from ..models import LIMIT_WINDOWS
from .base import WholeNumberField

LIMIT_RANGE = NumberRange(1, 1_000_000, "Лимит — целое число от 1 до 1 000 000; пусто — "
                                        "без лимита.")
LIMIT_LABELS = {
    "limit_minute": "Получателей в минуту",
    "limit_hour": "Получателей в час",
    "limit_day": "Получателей в сутки",
    "limit_letter": "Получателей в одном письме",
}
#: Spaces people put between thousands («1 000», with a no-break or a thin space too).
_GROUPING = re.compile(r"(?<=\d)[ \u00a0\u202f\u2009](?=\d{3}\b)")


class LimitField(WholeNumberField):
    """A limit: a whole number, «1 000» read as 1000; empty means «no limit»."""

    def process_formdata(self, valuelist) -> None:
        if valuelist and isinstance(valuelist[0], str):
            valuelist = [_GROUPING.sub("", valuelist[0].strip()), *valuelist[1:]]
        super().process_formdata(valuelist)


def _limit(name: str) -> LimitField:
    return LimitField(LIMIT_LABELS[name], validators=[Optional(), LIMIT_RANGE])


class LimitFields:
    """Mixed into a form: the four limits, empty meaning «no limit»."""

    limit_minute = _limit("limit_minute")
    limit_hour = _limit("limit_hour")
    limit_day = _limit("limit_day")
    limit_letter = _limit("limit_letter")

    def limit_values(self) -> dict[str, int | None]:
        """The submitted limits by column name."""
        return {name: getattr(self, name).data for name in LIMIT_WINDOWS}
