"""The base of every form: Russian messages, and number fields that report one error."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import IntegerField
from wtforms.validators import StopValidation


class PortalForm(FlaskForm):
    """A form whose built-in messages are Russian (WTForms ships the translation)."""

    class Meta:
        locales = ("ru_RU", "ru")


class WholeNumberField(IntegerField):
    """An integer field that stops at «not a number» instead of adding range errors too."""

    def process_formdata(self, valuelist) -> None:
        if valuelist and not str(valuelist[0]).strip():
            self.data = None  # empty: Optional/InputRequired decide
            return
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError("Введите целое число.") from None

    def pre_validate(self, form) -> None:
        if self.process_errors:
            raise StopValidation()
