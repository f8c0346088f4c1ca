"""The value object every place that stores SMTP settings shares (SPEC §2)."""
from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass, field

import idna


class Security(enum.StrEnum):
    """«Защита соединения»."""

    NONE = "none"
    SSL = "ssl"
    STARTTLS = "starttls"

    @property
    def label(self) -> str:
        return SECURITY_LABELS[self]

    @property
    def default_port(self) -> int:
        return DEFAULT_PORTS[self]


class AuthType(enum.StrEnum):
    """«Тип авторизации»."""

    NONE = "none"
    LOGIN = "login"
    XOAUTH2 = "xoauth2"

    @property
    def label(self) -> str:
        return AUTH_LABELS[self]


SECURITY_LABELS = {Security.NONE: "Нет", Security.SSL: "SSL/TLS", Security.STARTTLS: "STARTTLS"}
AUTH_LABELS = {
    AuthType.NONE: "Без авторизации",
    AuthType.LOGIN: "Ввести логин и пароль",
    AuthType.XOAUTH2: "OAuth 2.0",
}
DEFAULT_PORTS = {Security.SSL: 465, Security.STARTTLS: 587, Security.NONE: 25}
MAX_TIMEOUT = 120


class InvalidSettings(ValueError):
    """Settings that cannot be used; the message is Russian and safe to show."""


class UnusableSecret(str):
    """A stand-in the storage hands out for a secret it holds but cannot give (one that no
    configured key decrypts, see :class:`portal_smtp.crypto.UnreadableSecret`).

    :class:`SmtpSettings` refuses it with its :attr:`reason`, so it never reaches a server
    as a password.
    """

    #: Russian, safe to show: why the secret cannot be used and what to do.
    reason = "Сохранённый пароль недоступен."


class UnusableSecretError(InvalidSettings):
    """Settings were built with an :class:`UnusableSecret`; the message is its reason."""


def to_ascii_host(host: str) -> str:
    """Return ``host`` as it goes on the wire: IP literals as they are, names in punycode.

    Raises :class:`InvalidSettings` for something that is neither.
    """
    cleaned = host.strip().rstrip(".")
    if not cleaned:
        raise InvalidSettings("Укажите адрес почтового сервера.")
    try:
        return str(ipaddress.ip_address(cleaned.strip("[]")))
    except ValueError:
        pass
    try:
        ascii_host = idna.encode(cleaned, uts46=True).decode("ascii")
    except idna.IDNAError:
        raise InvalidSettings(f"Некорректный адрес почтового сервера: {cleaned[:100]}") from None
    if len(ascii_host) > 253:
        raise InvalidSettings("Слишком длинный адрес почтового сервера.")
    return ascii_host


def host_port(host: str, port: int | None) -> str:
    """«server:port» as people and URLs write it: an IPv6 address goes in brackets
    (``[fe80::1]:587``), so the port cannot be read as part of it."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


def secure_choice(port: int | None, secure: bool) -> tuple[int, Security]:
    """The port and protection a «Использовать защищённое соединение» checkbox means.

    Ticked: a blank port or 465 is 465 with SSL/TLS, any other port STARTTLS. Unticked: no
    protection, port 25 when blank. Mailboxes' sending settings and CRM senders both use it.
    """
    if not secure:
        return port or Security.NONE.default_port, Security.NONE
    if not port or port == Security.SSL.default_port:
        return Security.SSL.default_port, Security.SSL
    return port, Security.STARTTLS


@dataclass(frozen=True)
class SmtpSettings:
    """How to reach and log in to one SMTP server.

    ``password`` holds the password for ``login`` auth and the access token for ``xoauth2``;
    it is kept out of ``repr`` so that it never reaches a log through this object.
    """

    host: str
    port: int | None = None
    security: Security = Security.STARTTLS
    auth: AuthType = AuthType.LOGIN
    login: str = ""
    password: str = field(default="", repr=False)
    timeout: float = 10
    verify_tls: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "security", _enum(Security, self.security, "защиты"))
        object.__setattr__(self, "auth", _enum(AuthType, self.auth, "авторизации"))
        object.__setattr__(self, "host", self.host.strip())
        to_ascii_host(self.host)  # validates
        port = self.port or self.security.default_port
        if not isinstance(port, int) or not 1 <= port <= 65535:
            raise InvalidSettings("Порт должен быть числом от 1 до 65535.")
        object.__setattr__(self, "port", port)
        if not 0 < float(self.timeout) <= MAX_TIMEOUT:
            raise InvalidSettings(f"Тайм-аут должен быть от 1 до {MAX_TIMEOUT} секунд.")
        if self.auth is not AuthType.NONE and not self.login:
            raise InvalidSettings("Укажите логин.")
        if isinstance(self.password, UnusableSecret):
            if self.auth is not AuthType.NONE:
                raise UnusableSecretError(self.password.reason)
            object.__setattr__(self, "password", "")  # without auth it is never sent
        for value in (self.login, self.password):
            if any(ch in value for ch in "\r\n\x00"):
                raise InvalidSettings("Логин и пароль не могут содержать переводы строк.")

    @property
    def ascii_host(self) -> str:
        """The host in the form used for DNS, SNI and certificate checks."""
        return to_ascii_host(self.host)

    @property
    def address(self) -> str:
        """«server:port» for messages and logs (IPv6 in brackets)."""
        return host_port(self.host, self.port)

    @property
    def effective_port(self) -> int:
        """The port, never ``None`` after validation."""
        assert self.port is not None
        return self.port


def _enum(kind, value, what):
    try:
        return kind(value)
    except ValueError:
        raise InvalidSettings(f"Неизвестный тип {what}: {value!r}") from None
