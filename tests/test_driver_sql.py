"""DriverStatement: a Core statement handed to the driver must store values exactly as Core
would, and refuses one whose SQL Core renders per execution."""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import Boolean, bindparam, or_, select, update

from portal_smtp import send_mail
from portal_smtp.extensions import db
from portal_smtp.models import OutboxMessage
from portal_smtp.worker.driver_sql import DriverStatement

from .test_outbox import letter

OUTBOX = OutboxMessage.__table__
SET_TIMES = DriverStatement(
    update(OUTBOX)
    .where(OUTBOX.c.id == bindparam("letter_id"),
           or_(bindparam("force", type_=Boolean), OUTBOX.c.claimed_by.is_(None)))
    .values(lease_until=bindparam("lease"), sent_at=bindparam("sent"),
            claimed_by=bindparam("who")))


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


def test_an_in_over_bound_parameters_is_refused(app):
    statement = DriverStatement(update(OUTBOX).where(OUTBOX.c.status.in_(["queued", "sent"]))
                                .values(claimed_by="x"))
    with app.app_context(), db.engine.connect() as connection, \
            pytest.raises(ValueError, match="per execution"):
        statement.execute(connection, {})
