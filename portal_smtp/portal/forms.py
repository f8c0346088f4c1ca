"""Forms of the host portal."""
from __future__ import annotations

from wtforms import BooleanField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from ..forms.base import PortalForm


class LoginForm(PortalForm):
    """«Вход в портал»."""

    username = StringField("Логин", validators=[DataRequired("Введите логин."), Length(max=64)])
    password = PasswordField("Пароль", validators=[DataRequired("Введите пароль.")])
    remember = BooleanField("Запомнить меня")
    submit = SubmitField("Войти")
