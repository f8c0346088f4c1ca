"""Forms of the CRM composer and «Добавить отправителя»."""
from __future__ import annotations

from wtforms import (
    BooleanField,
    FieldList,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from .accounts import PORT_RANGE
from .base import PortalForm, WholeNumberField
from .validators import email_address, single_line


class ComposeForm(PortalForm):
    """The e-mail composer of an entity."""

    sender = SelectField("От кого", validate_choice=False)
    to = FieldList(StringField("Кому", validators=[Length(max=2000), single_line]),
                   min_entries=1)
    cc = StringField("Копия", validators=[Length(max=2000), single_line])
    bcc = StringField("Скрытая копия", validators=[Length(max=2000), single_line])
    subject = StringField("Тема", validators=[DataRequired("Укажите тему."), Length(max=900),
                                              single_line])
    body = TextAreaField("Текст письма", validators=[Length(max=500_000)])
    copy_to_me = BooleanField("Отправить мне копию")
    important = BooleanField("Важное")
    template = SelectField("Шаблон", validate_choice=False)
    template_name = StringField("Название шаблона", validators=[Length(max=200), single_line])


class SenderForm(PortalForm):
    """«Добавить отправителя»: by code, or with «SMTP-сервера»."""

    name = StringField("Имя", validators=[Length(max=200), single_line])
    email = StringField("Email", validators=[DataRequired("Укажите email."), Length(max=254),
                                             single_line, email_address])
    shared = BooleanField("Доступен всем")
    host = StringField("Сервер", validators=[Length(max=253), single_line])
    port = WholeNumberField("Порт", validators=[Optional(), PORT_RANGE])
    secure = BooleanField("Использовать защищённое соединение", default=True)
    login = StringField("Логин", validators=[Length(max=320), single_line])
    password = PasswordField("Пароль", validators=[Length(max=1000), single_line])
    code = StringField("Введите код из письма", validators=[Length(max=12), single_line])
