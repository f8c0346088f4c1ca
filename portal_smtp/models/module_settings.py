"""«Настройки» of the module (SPEC §12): one row, created with defaults on first use."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import Base
from ..timeutil import utcnow


class ModuleSettings(Base):
    """The module's settings an administrator changes in the portal."""

    __tablename__ = "portal_smtp_module_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: «Модуль включён»: when off, nothing is routed through the module.
    enabled: Mapped[bool] = mapped_column(default=True)
    #: «Выполнять отправку письма при проверке соединения».
    send_test_letter: Mapped[bool] = mapped_column(default=False)
    #: «Email для тестовых писем»; "" sends test letters to the sender's own address.
    test_email: Mapped[str] = mapped_column(String(254), default="")
    #: How many days send logs are kept.
    log_retention_days: Mapped[int] = mapped_column(default=30)
    #: Seconds each network step may take unless an account says otherwise.
    default_timeout: Mapped[int] = mapped_column(default=10)
    #: Extra allow-list entries (hosts, CIDRs, host:port), one per line.
    allow_hosts: Mapped[str] = mapped_column(Text, default="")
    #: Extra allowed ports, comma- or line-separated.
    allow_ports: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
