"""DriverStatement: SQL handed to the driver must store values exactly as Core would."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, select

from portal_smtp import send_mail
from portal_smtp.extensions import db
from portal_smtp.models import OutboxMessage
from portal_smtp.services.driver_sql import DriverStatement

from .test_outbox import letter

SET_TIMES = DriverStatement(
    "UPDATE portal_smtp_outbox SET lease_until = :lease, sent_at = :sent, "
    "claimed_by = :who WHERE id = :letter_id AND (:force OR claimed_by IS NULL)",
    lease=DateTime(), sent=DateTime(), force=Boolean())


def test_values_written_by_the_driver_read_back_and_compare_as_core_writes_them(app):
    lease = datetime(2026, 11, 24, 10, 0, 0)  # no microseconds: the format must still match
    sent = datetime(2026, 11, 24, 10, 0, 0, 123456)
    with app.app_context():
        first = send_mail(letter(subject="1"))
        second = send_mail(letter(subject="2"))
        with db.engine.connect() as connection:
            result = SET_TIMES.execute(connection, {
                "letter_id": first, "lease": lease, "sent": sent, "who": "w", "force": False})
            assert result.rowcount == 1
            # executemany, and a boolean that decides the WHERE
            SET_TIMES.execute(connection, [
                {"letter_id": first, "lease": None, "sent": None, "who": "x", "force": False},
                {"letter_id": second, "lease": lease, "sent": None, "who": "y", "force": True},
            ])
            connection.commit()
        rows = dict(db.session.execute(select(OutboxMessage.id, OutboxMessage.lease_until)
                                       .where(OutboxMessage.lease_until == lease)).all())
        stored = db.session.get(OutboxMessage, first)
        assert rows == {first: lease, second: lease}  # equal in SQL, not only in Python
        assert (stored.lease_until, stored.sent_at, stored.claimed_by) == (lease, sent, "w")
        assert db.session.scalar(select(OutboxMessage.claimed_by)
                                 .where(OutboxMessage.id == second)) == "y"
        assert db.session.scalar(select(OutboxMessage.id).where(
            OutboxMessage.sent_at > datetime(2026, 11, 24, 10, 0, 0, 123455))) == first
