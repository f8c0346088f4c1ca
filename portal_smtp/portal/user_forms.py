"""Forms of the user administration page (the demo host's «Пользователи»)."""
from __future__ import annotations

from wtforms import PasswordField, SelectChoice, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length

from ..forms.base import PortalForm
from .models import Role
from .user_operations import MIN_PASSWORD_LENGTH

ROLE_CHOICES = [SelectChoice(Role.USER.value, "Пользователь"),
                SelectChoice(Role.ADMIN.value, "Администратор")]
PASSWORD_RULE = f"Не короче {MIN_PASSWORD_LENGTH} символов."


class ProfileFields(PortalForm):
    """Name, address and role: what «Изменить» changes."""

    full_name = StringField("Имя", validators=[DataRequired("Введите имя."),
                                                Length(max=200)])
    email = StringField("Email", validators=[DataRequired("Введите адрес электронной почты."),
                                             Length(max=254)])
    role = SelectField("Роль", choices=ROLE_CHOICES, default=Role.USER.value)


class PasswordFields(PortalForm):
    """A new password, typed twice."""

    password = PasswordField("Пароль", description=PASSWORD_RULE, validators=[
        DataRequired("Введите пароль."),
        Length(min=MIN_PASSWORD_LENGTH, message=PASSWORD_RULE)])
    password2 = PasswordField("Пароль ещё раз", validators=[
        DataRequired("Повторите пароль."),
        EqualTo("password", message="Пароли не совпадают.")])


class UserEditForm(ProfileFields):
    """«Изменить пользователя»."""

    submit = SubmitField("Сохранить")


class PasswordForm(PasswordFields):
    """«Сменить пароль»."""

    submit = SubmitField("Сменить пароль")


class UserAddForm(ProfileFields, PasswordFields):
    """«Новый пользователь»."""

    username = StringField("Логин", validators=[DataRequired("Введите логин."),
                                                 Length(max=64)])
    submit = SubmitField("Добавить")
