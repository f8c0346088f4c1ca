"""The worker's settings, read once from the app configuration."""
from __future__ import annotations

import random
from dataclasses import dataclass

from ..config import setting


@dataclass(frozen=True)
class DeliveryConfig:
    """Worker settings (SPEC §11)."""

    batch_size: int = 20
    lease_seconds: int = 300
    max_attempts: int = 8
    retry_base: float = 30.0
    retry_max: float = 3600.0
    idle_seconds: float = 2.0

    @classmethod
    def from_app(cls) -> DeliveryConfig:
        return cls(
            batch_size=int(setting("SMTP_WORKER_BATCH")),
            lease_seconds=int(setting("SMTP_LEASE_SECONDS")),
            max_attempts=int(setting("SMTP_MAX_ATTEMPTS")),
            retry_base=float(setting("SMTP_RETRY_BASE_SECONDS")),
            retry_max=float(setting("SMTP_RETRY_MAX_SECONDS")),
            idle_seconds=float(setting("SMTP_WORKER_IDLE_SECONDS")),
        )

    def backoff(self, attempt: int) -> float:
        """Seconds before the next try: exponential with ±20% jitter."""
        delay = min(self.retry_max, self.retry_base * 2 ** max(0, attempt - 1))
        return delay * random.uniform(0.8, 1.2)
