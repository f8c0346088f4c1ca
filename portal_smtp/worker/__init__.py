"""Outbox workers (SPEC §11, §17), one job a module:

- :mod:`.claim` leases due letters to a worker;
- :mod:`.transports` loads the transport of each, with its limits, or routes it again;
- :mod:`.connections` keeps one SMTP session per transport, reused for many letters;
- :mod:`.sending` runs one SMTP transaction and says what its ending means;
- :mod:`.bookkeeping` is the one write path for outcomes, logs, figures and reservations;
- :mod:`.maintenance` recovers stuck letters, applies retention, reports heartbeats;
- :mod:`.loop` ties them together: a batch, its limits and pauses, the idle wait.
"""
from .loop import Worker, run_workers, worker_name
from .settings import DeliveryConfig

__all__ = ["DeliveryConfig", "Worker", "run_workers", "worker_name"]
