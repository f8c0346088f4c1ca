"""What the worker writes besides outcomes: heartbeats, hourly figures, and the cleaning up
of old reservations and forgotten workers (SPEC §17)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from portal_smtp import send_mail
from portal_smtp.extensions import db
from portal_smtp.models import HourlyStats, SendUsage, WorkerHeartbeat
from portal_smtp.timeutil import utcnow
from portal_smtp.worker import run_workers
from portal_smtp.worker.maintenance import maintain

from .factories import make_account
from .servers import REFUSED_RECIPIENT
from .test_outbox import letter


def test_the_worker_reports_heartbeats_and_hourly_figures(app, smtp):
    with app.app_context():
        account_id = make_account("user@example.com", host="127.0.0.1", port=smtp.plain.port,
                                  security="none", auth="none", login="").id
        for n in range(3):
            send_mail(letter(subject=f"Письмо {n}"), commit=False)
        send_mail(letter(subject="Отказ", to=REFUSED_RECIPIENT), commit=False)
        db.session.commit()
    assert run_workers(app, once=True) == 4
    with app.app_context():
        (beat,) = db.session.scalars(select(WorkerHeartbeat)).all()
        assert (beat.state, beat.processed) == ("stopped", 4)
        assert utcnow() - beat.heartbeat_at < timedelta(minutes=1)
        (figures,) = db.session.scalars(select(HourlyStats)).all()
        assert (figures.transport_type, figures.transport_id) == ("account", account_id)
        assert (figures.sent, figures.failed, figures.deferred) == (3, 1, 0)
        assert figures.hour == utcnow().replace(minute=0, second=0, microsecond=0) \
            or figures.hour == (utcnow() - timedelta(hours=1)).replace(
                minute=0, second=0, microsecond=0)  # the run crossed an hour


def test_maintenance_forgets_old_reservations_and_workers(app):
    now = utcnow()
    with app.app_context():
        db.session.add_all([
            SendUsage(transport_type="account", transport_id=1, recipients=1,
                      used_at=now - timedelta(days=1, minutes=1)),
            SendUsage(transport_type="account", transport_id=1, recipients=1,
                      used_at=now - timedelta(hours=23)),
            WorkerHeartbeat(name="gone:1:0", heartbeat_at=now - timedelta(days=2),
                            started_at=now - timedelta(days=3)),
            WorkerHeartbeat(name="alive:1:0", heartbeat_at=now, started_at=now),
        ])
        db.session.commit()
        maintain(now)
        db.session.commit()
        assert db.session.scalars(select(SendUsage.used_at)).all() == [now - timedelta(hours=23)]
        assert db.session.scalars(select(WorkerHeartbeat.name)).all() == ["alive:1:0"]
