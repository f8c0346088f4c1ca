"""«Лимиты отправки» (SPEC §17): the same four optional fields on every form that edits a
sender or a provider's defaults."""
from __future__ import annotations

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


class LimitFields:
    """Mixed into a form: the four limits, empty meaning «no limit»."""

    limit_minute = WholeNumberField(LIMIT_LABELS["limit_minute"],
                                    validators=[Optional(), LIMIT_RANGE])
    limit_hour = WholeNumberField(LIMIT_LABELS["limit_hour"], validators=[Optional(), LIMIT_RANGE])
    limit_day = WholeNumberField(LIMIT_LABELS["limit_day"], validators=[Optional(), LIMIT_RANGE])
    limit_letter = WholeNumberField(
        LIMIT_LABELS["limit_letter"], validators=[Optional(), LIMIT_RANGE],
        description="Письмо с большим числом получателей уходит несколькими отправками.")

    def limit_values(self) -> dict[str, int | None]:
        """The submitted limits by column name."""
        return {name: getattr(self, name).data for name in LIMIT_WINDOWS}
