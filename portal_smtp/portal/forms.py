"""Forms of the host portal."""
from __future__ import annotations

from wtforms import (
    BooleanField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
)
from wtforms.validators import DataRequired, Length, Optional

from ..forms.base import PortalForm
from ..forms.validators import email_address, single_line
from .models import ENTITY_KINDS


class LoginForm(PortalForm):
    """«Вход в портал»."""

    username = StringField("Логин", validators=[DataRequired("Введите логин."), Length(max=64)])
    password = PasswordField("Пароль", validators=[DataRequired("Введите пароль.")])
    remember = BooleanField("Запомнить меня")
    submit = SubmitField("Войти")


class EntityForm(PortalForm):
    """A deal, lead, contact or company."""

    kind = SelectField("Тип", default="deal",
                       choices=[SelectChoice(k, v) for k, v in ENTITY_KINDS.items()])
    title = StringField("Название", validators=[DataRequired("Укажите название."),
                                                Length(max=300), single_line])
    email = StringField("Email клиента", validators=[Optional(), Length(max=254), single_line,
                                                     email_address])
