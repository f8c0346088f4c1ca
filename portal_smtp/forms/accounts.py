"""«Параметры SMTP-аккаунта» and the module's «Настройки»."""
from __future__ import annotations

from wtforms import (
    BooleanField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from ..config import split_list
from ..services.accounts import AccountInput
from ..smtp import NetworkPolicy
from ..smtp.policy import InvalidEntry
from ..smtp.settings import AUTH_LABELS, SECURITY_LABELS
from .base import PortalForm, WholeNumberField
from .limits import LimitFields
from .validators import email_address, server_host, single_line

SECURITY_CHOICES = [SelectChoice(key.value, label) for key, label in SECURITY_LABELS.items()]
AUTH_CHOICES = [SelectChoice(key.value, label) for key, label in AUTH_LABELS.items()]
PORT_RANGE = NumberRange(1, 65535, "Порт должен быть числом от 1 до 65535.")
TIMEOUT_RANGE = NumberRange(1, 120, "Тайм-аут должен быть от 1 до 120 секунд.")


class AccountForm(LimitFields, PortalForm):
    """«Параметры SMTP-аккаунта»."""

    active = BooleanField("Активен", default=True)
    sender_name = StringField("Имя отправителя", validators=[Length(max=200), single_line])
    email = StringField(
        "Email отправителя",
        validators=[DataRequired("Укажите email отправителя."), Length(max=254), single_line,
                    email_address],
    )
    host = StringField(
        "Адрес почтового сервера",
        validators=[DataRequired("Укажите адрес почтового сервера."), Length(max=253),
                    single_line, server_host],
    )
    port = WholeNumberField("Порт почтового сервера", validators=[Optional(), PORT_RANGE],
                        description="Пусто — порт по умолчанию: 465 для SSL/TLS, 587 для "
                                    "STARTTLS, 25 без защиты.")
    security = SelectField("Защита соединения", choices=SECURITY_CHOICES, default="ssl")
    auth = SelectField("Тип авторизации", choices=AUTH_CHOICES, default="login")
    login = StringField("Логин", validators=[Length(max=320), single_line])
    password = PasswordField("Пароль", validators=[Length(max=1000), single_line],
                             description="При редактировании пустое поле оставляет "
                                         "сохранённый пароль.")
    mailing_first = BooleanField("Искать в первую очередь для рассылок")
    verify_tls = BooleanField("Проверять сертификат сервера", default=True)
    timeout = WholeNumberField("Тайм-аут, с", validators=[Optional(), TIMEOUT_RANGE],
                           description="Пусто — значение из настроек модуля.")

    #: Whether a password is already stored (set by the view for an existing account).
    has_stored_password = False

    def validate_login(self, field) -> None:
        if self.auth.data != "none" and not (field.data or "").strip():
            raise ValidationError("Укажите логин.")

    def validate_password(self, field) -> None:
        if self.auth.data != "none" and not field.data and not self.has_stored_password:
            what = "токен доступа" if self.auth.data == "xoauth2" else "пароль"
            raise ValidationError(f"Укажите {what}.")

    def to_input(self) -> AccountInput:
        """The submitted values as the service takes them."""
        return AccountInput(
            email=self.email.data.strip(),
            host=self.host.data.strip(),
            port=self.port.data,
            security=self.security.data,
            auth=self.auth.data,
            sender_name=(self.sender_name.data or "").strip(),
            login=(self.login.data or "").strip(),
            password=self.password.data or "",
            active=self.active.data,
            mailing_first=self.mailing_first.data,
            verify_tls=self.verify_tls.data,
            timeout=self.timeout.data,
            limits=self.limit_values(),
        )


class ModuleSettingsForm(PortalForm):
    """«Настройки» of the module (SPEC §12)."""

    enabled = BooleanField("Модуль включён")
    send_test_letter = BooleanField("Выполнять отправку письма при проверке соединения")
    test_email = StringField("Email для тестовых писем",
                             validators=[Optional(), Length(max=254), single_line, email_address],
                             description="Пусто — тестовое письмо уходит на адрес отправителя.")
    log_retention_days = WholeNumberField(
        "Хранить логи отправки, дней",
        validators=[InputRequired("Укажите срок хранения логов."),
                    NumberRange(1, 3650, "Срок хранения — от 1 до 3650 дней.")],
    )
    default_timeout = WholeNumberField(
        "Тайм-аут соединения по умолчанию, с",
        validators=[InputRequired("Укажите тайм-аут."), TIMEOUT_RANGE],
    )
    allow_hosts = TextAreaField(
        "Разрешённые адреса серверов",
        validators=[Length(max=10000)],
        description="По одному на строку: имя хоста, IP-адрес, подсеть (10.0.0.0/8) или "
                    "хост:порт. Проверки и отправка к внутренним адресам запрещены, пока "
                    "они не указаны здесь.",
    )
    allow_ports = StringField(
        "Дополнительные разрешённые порты",
        validators=[Length(max=1000)],
        description="Через запятую. Всегда разрешены 25, 465, 587 и 2525.",
    )

    def validate_allow_hosts(self, field) -> None:
        try:
            NetworkPolicy.from_entries(allow=split_list((field.data or "").replace("\n", ",")))
        except InvalidEntry as error:
            raise ValidationError(f"Некорректная запись: {error.entry}") from None

    def validate_allow_ports(self, field) -> None:
        try:
            NetworkPolicy.from_entries(extra_ports=split_list(field.data or ""))
        except InvalidEntry:
            raise ValidationError("Порты — числа от 1 до 65535 через запятую.") from None
