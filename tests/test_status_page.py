"""«Состояние отправки» and ``/metrics`` (SPEC §17): the figures from what the worker wrote,
the page for administrators only, the opt-in Prometheus endpoint with its token."""
from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from portal_smtp import send_mail
from portal_smtp.extensions import db
from portal_smtp.models import HourlyStats, SenderState, WorkerHeartbeat
from portal_smtp.services.operations_status import figures
from portal_smtp.timeutil import utcnow
from portal_smtp.worker import run_workers

from .conftest import login
from .factories import make_account
from .servers import REFUSED_RECIPIENT
from .test_outbox import letter


def fill(app, smtp) -> int:
    """Two hours of figures, a paused account, a live and a silent worker, and a queue."""
    now = utcnow()
    hour = now.replace(minute=0, second=0, microsecond=0)
    with app.app_context():
        account = make_account("user@example.com", "Продажи", host="127.0.0.1",
                               port=smtp.plain.port, security="none", auth="none", login="")
        db.session.add_all([
            HourlyStats(hour=hour, transport_type="account", transport_id=account.id,
                        sent=40, failed=2, deferred=1, duration_ms=43 * 120),
            HourlyStats(hour=hour - timedelta(hours=3), transport_type="account",
                        transport_id=account.id, sent=10, failed=0, deferred=0,
                        duration_ms=10 * 80),
            HourlyStats(hour=hour - timedelta(hours=30), transport_type="account",
                        transport_id=account.id, sent=999, failed=999, deferred=0,
                        duration_ms=0),  # older than a day: not shown
            SenderState(transport_type="account", transport_id=account.id, reservations=0,
                        pause_reason="", health_failures=4,
                        paused_until=now + timedelta(minutes=10)),
            WorkerHeartbeat(name="web1:100:0", started_at=now, heartbeat_at=now,
                            processed=52, state="idle"),
            WorkerHeartbeat(name="web2:200:0", started_at=now - timedelta(hours=2),
                            heartbeat_at=now - timedelta(minutes=30), processed=7,
                            state="sending"),
        ])
        db.session.commit()
        for n in range(3):
            send_mail(letter(subject=f"Письмо {n}"))
        return account.id


def test_the_figures_come_from_the_worker_records(app, smtp):
    fill(app, smtp)
    with app.app_context():
        current = figures()
    assert current.queue == {"queued": 3, "sending": 0, "deferred": 0}
    assert (current.sent_day, current.failed_day) == (50, 2)
    assert len(current.hours) == 24 and current.hours[-1][1:] == (40, 2)
    (failing,) = current.failing
    assert (failing.health_failures, failing.failed) == (4, 2) and failing.paused_until
    assert failing.label == "SMTP-аккаунт user@example.com — 127.0.0.1"
    assert current.slowest[0].average_ms == (43 * 120 + 10 * 80) // 53
    assert [w.alive for w in current.workers] == [True, False]


def test_the_page_shows_administrators_the_figures(app, smtp, users, client):
    fill(app, smtp)
    login(client, users.admin)
    page = client.get("/admin/smtp/status").get_data(as_text=True)
    assert '<dd data-status="queued">3</dd>' in page
    assert '<dd id="sent-day">50</dd>' in page and '<dd id="failed-day">2</dd>' in page
    assert page.count('class="bar-sent"') == 24
    assert "SMTP-аккаунт user@example.com — 127.0.0.1" in page
    assert "не отвечает" in page and "web1:100:0" in page
    assert 'id="no-workers"' not in page  # one worker is alive
    fragment = client.get("/admin/smtp/status", headers={"HX-Request": "true"})
    assert fragment.get_data(as_text=True).lstrip().startswith("<div id=\"status-body\"")


def test_an_empty_portal_says_what_to_do(app, users, client):
    login(client, users.admin)
    page = client.get("/admin/smtp/status").get_data(as_text=True)
    assert "Ни один обработчик не запущен — письма не отправляются" in page
    assert "Нет данных за последние сутки." in page


def test_users_cannot_see_it(app, users, client):
    login(client, users.ivanov)
    response = client.get("/admin/smtp/status")
    assert response.status_code in (302, 403)
    assert "Состояние отправки" not in response.get_data(as_text=True)


def test_a_real_worker_fills_the_page(app, smtp, users, client):
    with app.app_context():
        make_account("user@example.com", host="127.0.0.1", port=smtp.plain.port,
                     security="none", auth="none", login="")
        for n in range(4):
            send_mail(letter(subject=f"Письмо {n}"))
        send_mail(letter(subject="Отказ", to=REFUSED_RECIPIENT))
    run_workers(app, once=True)
    login(client, users.admin)
    page = client.get("/admin/smtp/status").get_data(as_text=True)
    assert '<dd id="sent-day">4</dd>' in page and '<dd id="failed-day">1</dd>' in page
    assert "остановлен" in page  # the worker said it stopped


def test_metrics_are_off_by_default(client):
    assert client.get("/metrics").status_code == 404


@pytest.fixture
def metrics_config(app_config):
    app_config.update(SMTP_METRICS_ENABLED=True, SMTP_METRICS_TOKEN="scrape-secret")
    return app_config


def test_metrics_need_the_token_and_carry_the_figures(metrics_config, app, smtp):
    fill(app, smtp)
    client = app.test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    response = client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(response.get_data(as_text=True))
               for s in family.samples}
    assert samples[("portal_smtp_queue_letters", (("status", "queued"),))] == 3
    assert samples[("portal_smtp_letters_last_24h", (("result", "sent"),))] == 50
    assert samples[("portal_smtp_workers_alive", ())] == 1
    assert any(name == "portal_smtp_sender_health_failures" and value == 4
               for (name, _), value in samples.items())
    assert b"scrape-secret" not in response.data
