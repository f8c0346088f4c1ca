"""Forms of «Почта» and of the providers directory."""
from __future__ import annotations

from wtforms import (
    BooleanField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from ..models.mail import AUTH_METHODS, LOGIN_FORMATS
from .accounts import PORT_RANGE, SECURITY_CHOICES
from .base import PortalForm, WholeNumberField
from .limits import LimitFields
from .validators import email_address, server_host, single_line


class ConnectMailboxForm(PortalForm):
    """«Подключить ящик»."""

    email = StringField("Адрес почтового ящика",
                        validators=[DataRequired("Укажите адрес ящика."), Length(max=254),
                                    single_line, email_address])
    password = PasswordField("Пароль", validators=[DataRequired("Укажите пароль."),
                                                   Length(max=1000), single_line])
    provider_id = SelectField("Почтовый сервис", coerce=str, validate_choice=False)
    manual = BooleanField("Настроить параметры подключения вручную")
    imap_host = StringField("Адрес IMAP-сервера", validators=[Length(max=253), single_line])
    imap_port = WholeNumberField("Порт", validators=[Optional(), PORT_RANGE])
    imap_security = SelectField("Защита соединения", choices=SECURITY_CHOICES, default="ssl")
    login = StringField("Логин", validators=[Length(max=320), single_line],
                        description="Пусто — адрес ящика.")

    def validate_imap_host(self, field) -> None:
        if self.manual.data or not self.provider_id.data:
            if not (field.data or "").strip():
                raise ValidationError("Укажите адрес IMAP-сервера.")
            server_host(self, field)


class SendingForm(LimitFields, PortalForm):
    """«Настройки для исходящих писем» of one mailbox."""

    enabled = BooleanField("Отправлять через внешний SMTP", default=True)
    host = StringField("Адрес SMTP-сервера", validators=[Length(max=253), single_line])
    port = WholeNumberField("Порт", validators=[Optional(), PORT_RANGE])
    secure = BooleanField("Использовать защищённое соединение", default=True)
    auth_mode = RadioField("Авторизация", default="imap", choices=[
        SelectChoice("imap", "Данные IMAP-ящика"),
        SelectChoice("custom", "Другие логин и пароль"),
        SelectChoice("none", "Без авторизации")])
    login = StringField("Логин", validators=[Length(max=320), single_line])
    password = PasswordField("Пароль", validators=[Length(max=1000), single_line])

    #: Set by the view: the provider supplies the server, only the toggle matters.
    provider_mode = False
    has_stored_password = False

    def validate_host(self, field) -> None:
        if not self.provider_mode:
            if not (field.data or "").strip():
                raise ValidationError("Укажите адрес SMTP-сервера.")
            server_host(self, field)

    def validate_login(self, field) -> None:
        if self.auth_mode.data == "custom" and not field.data:
            raise ValidationError("Укажите логин.")

    def validate_password(self, field) -> None:
        if self.auth_mode.data == "custom" and not field.data and not self.has_stored_password:
            raise ValidationError("Укажите пароль.")


def _domains_text(value):
    """The stored provider's domains (a list of rows, taken from ``obj`` when a request
    carries no ``domains`` field) as the field's text: one domain per line."""
    if value is None or isinstance(value, str):
        return value
    return "\n".join(getattr(item, "domain", str(item)) for item in value)


class ProviderForm(LimitFields, PortalForm):
    """A provider of the directory."""

    name = StringField("Название", validators=[DataRequired("Укажите название."),
                                               Length(max=200), single_line])
    active = BooleanField("Активен", default=True)
    imap_host = StringField("IMAP-сервер", validators=[DataRequired("Укажите IMAP-сервер."),
                                                       Length(max=253), server_host])
    imap_port = WholeNumberField("Порт IMAP", default=993,
                                 validators=[DataRequired("Укажите порт."), PORT_RANGE])
    imap_security = SelectField("Защита IMAP", choices=SECURITY_CHOICES, default="ssl")
    smtp_host = StringField("SMTP-сервер", validators=[DataRequired("Укажите SMTP-сервер."),
                                                       Length(max=253), server_host])
    smtp_port = WholeNumberField("Порт SMTP", default=465,
                                 validators=[DataRequired("Укажите порт."), PORT_RANGE])
    smtp_security = SelectField("Защита SMTP", choices=SECURITY_CHOICES, default="ssl")
    login_format = SelectField("Имя пользователя", default="email",
                               choices=[SelectChoice(k, v) for k, v in LOGIN_FORMATS.items()])
    auth_method = SelectField("Авторизация", default="basic",
                              choices=[SelectChoice(k, v) for k, v in AUTH_METHODS.items()])
    oauth_client_id = StringField("Идентификатор клиента OAuth 2.0 (client id)",
                                  validators=[Length(max=500), single_line])
    oauth_client_secret = PasswordField("Секрет клиента OAuth 2.0 (client secret)",
                                        validators=[Length(max=1000)],
                                        description="Пусто — оставить сохранённый.")
    domains = TextAreaField("Домены почтовых провайдеров",
                            validators=[Length(max=10000)], filters=[_domains_text],
                            description="По одному домену на строку, например yandex.ru.")

    def domain_list(self) -> list[str]:
        return [line.strip() for line in (self.domains.data or "").replace(",", "\n")
                .splitlines() if line.strip()]

