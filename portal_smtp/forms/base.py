"""The base of every form: Russian messages, only the posted text fields, no NUL characters,
and number fields that report one error."""
from __future__ import annotations

from flask import request
from flask_wtf import FlaskForm
from wtforms import IntegerField
from wtforms.validators import StopValidation

#: What a field with a NUL character says (no form of the portal accepts one).
NUL_TEXT = "Недопустимый символ в поле (NUL). Уберите его и повторите."


class PortalForm(FlaskForm):
    """A form whose built-in messages are Russian (WTForms ships the translation)."""

    class Meta:
        locales = ("ru_RU", "ru")

        def wrap_formdata(self, form, formdata):
            """The posted text fields only. No form of the module takes files or JSON, and
            Flask-WTF would hand a file (or a JSON number) to a text field, where ``.strip()``
            fails: here such a field simply reads as missing and gets its Russian error."""
            if formdata is None or hasattr(formdata, "getlist"):
                return formdata  # the view passed its own data (or none)
            return request.form if form.is_submitted() and request.form else None

    def validate(self, extra_validators=None) -> bool:
        """Validate; a NUL character in any field is refused first, before a validator or
        the database sees it (PostgreSQL cannot store one and raises)."""
        clean = True
        for field in self:
            if any("\x00" in str(value) for value in field.raw_data or ()):
                field.errors = [NUL_TEXT]
                clean = False
        return super().validate(extra_validators) if clean else False


#: No number field of the portal needs more; anything larger is refused before validators.
MAX_WHOLE_NUMBER = 10**9


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
        if self.data is not None and abs(self.data) > MAX_WHOLE_NUMBER:
            # WTForms' NumberRange turns the value into a float, which overflows past 1e308
            self.data = None
            raise ValueError("Слишком большое число.")

    def pre_validate(self, form) -> None:
        if self.process_errors:
            raise StopValidation()
