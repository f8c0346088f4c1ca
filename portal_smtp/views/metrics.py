"""``/metrics`` in Prometheus' text format (SPEC §17), opt-in: ``SMTP_METRICS_ENABLED``; with
``SMTP_METRICS_TOKEN`` set, Prometheus must send ``Authorization: Bearer <token>``.

The figures are those of «Состояние отправки» (:mod:`..services.operations_status`); a fresh
registry per request keeps no state between scrapes or between apps in one process.
"""
from __future__ import annotations

import hmac
from collections.abc import Iterator

from flask import Flask, Response, abort, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from ..config import setting
from ..services.operations_status import Figures, figures


class FiguresCollector:
    """Turns :class:`Figures` into metric families."""

    def __init__(self, current: Figures) -> None:
        self.current = current

    def collect(self) -> Iterator[Metric]:
        current = self.current
        queue = GaugeMetricFamily("portal_smtp_queue_letters",
                                  "Letters in the outbox queue, by status.", labels=["status"])
        for status, count in current.queue.items():
            queue.add_metric([status], count)
        yield queue
        day = GaugeMetricFamily("portal_smtp_letters_last_24h",
                                "Delivery attempts over the last 24 hours, by result.",
                                labels=["result"])
        day.add_metric(["sent"], current.sent_day)
        day.add_metric(["failed"], current.failed_day)
        yield day
        yield GaugeMetricFamily("portal_smtp_workers_alive",
                                "Workers whose heartbeat is recent.",
                                value=current.workers_alive)
        ages = GaugeMetricFamily("portal_smtp_worker_heartbeat_age_seconds",
                                 "Seconds since each worker's last heartbeat.",
                                 labels=["worker"])
        for worker in current.workers:
            if worker.state != "stopped":
                ages.add_metric([worker.name],
                                (current.now - worker.heartbeat_at).total_seconds())
        yield ages
        failures = GaugeMetricFamily("portal_smtp_sender_health_failures",
                                     "Failed health checks in a row, per sender.",
                                     labels=["kind", "id"])
        paused = GaugeMetricFamily("portal_smtp_sender_paused",
                                   "1 while a sender waits out a server's limit reply.",
                                   labels=["kind", "id"])
        for sender in current.failing:
            failures.add_metric([sender.kind, str(sender.id)], sender.health_failures)
            paused.add_metric([sender.kind, str(sender.id)], 1 if sender.paused_until else 0)
        yield failures
        yield paused
        slow = GaugeMetricFamily("portal_smtp_sender_average_seconds",
                                 "Average time of a delivery attempt over the last 24 hours.",
                                 labels=["kind", "id"])
        for sender in current.slowest:
            slow.add_metric([sender.kind, str(sender.id)], sender.average_ms / 1000)
        yield slow


def metrics() -> Response:
    """The metrics, or 401 without the configured token."""
    token = setting("SMTP_METRICS_TOKEN")
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            abort(401)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FiguresCollector(figures()))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def register_metrics(app: Flask) -> None:
    """Add the route when the host turned metrics on."""
    if setting("SMTP_METRICS_ENABLED", app):
        app.add_url_rule(setting("SMTP_METRICS_PATH", app), "portal_smtp_metrics", metrics)
