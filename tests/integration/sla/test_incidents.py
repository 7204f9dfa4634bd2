"""Incidents open at the first down minute and close at the next measured up minute."""

from __future__ import annotations

from datetime import timedelta

from sla_support import minutes, put, utc
from sqlalchemy import func, select

from scim_bridge.directory.db import Database
from scim_bridge.directory.models import Incident, MaintenanceWindow
from scim_bridge.monitor.availability import aware, open_incident
from scim_bridge.monitor.incidents import evaluate


def _evaluate(database: Database, now: str) -> tuple[int, int]:
    with database.write() as s:
        changes = evaluate(s, now=utc(now))
        return len(changes.opened), len(changes.closed)


def test_an_incident_opens_stays_open_without_evidence_and_closes_when_dingtalk_answers(
    database: Database,
) -> None:
    put(database, minutes("2026-11-05T10:00", 2), ok=4)
    put(database, minutes("2026-11-05T10:02", 3), transient=2, api="/topapi/v2/user/update")
    # 10:05 and 10:06 measured nothing (the bridge itself was down): no evidence either way.
    put(database, minutes("2026-11-05T10:07", 1), transient=1, ok=1)  # half: not down
    # The minute 10:04 is complete only 30 s after it ends: it waits.
    assert _evaluate(database, "2026-11-05T10:04:45") == (1, 0)
    with database.read() as s:
        incident = open_incident(s)
        assert incident is not None
        assert (aware(incident.started_at), incident.down_minutes) == (utc("2026-11-05T10:02"), 2)
    assert _evaluate(database, "2026-11-05T10:08:31") == (0, 1)
    with database.read() as s:
        assert open_incident(s) is None
        done = s.scalars(select(Incident)).one()
        assert (aware(done.started_at), done.ended_at and aware(done.ended_at)) == (
            utc("2026-11-05T10:02"),
            utc("2026-11-05T10:07"),
        )
        assert done.down_minutes == 3
        assert done.apis == {"seen": ["/topapi/v2/user/update"]}
        assert done.errcodes == {"seen": ["transient"]}
    # Evaluating again (another process, a restart) changes nothing.
    assert _evaluate(database, "2026-11-05T10:09:31") == (0, 0)
    with database.read() as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 1


def test_down_minutes_inside_maintenance_open_no_incident(database: Database) -> None:
    put(database, minutes("2026-11-05T02:00", 5), transient=3)
    put(database, minutes("2026-11-05T02:05", 1), ok=3)
    start = utc("2026-11-05T02:00")
    with database.write() as s:
        s.add(
            MaintenanceWindow(
                starts_at=start,
                ends_at=start + timedelta(minutes=5),
                reason="DingTalk announced maintenance",
                source="settings",
                created_at=start,
            )
        )
    assert _evaluate(database, "2026-11-05T02:07") == (0, 0)
    with database.read() as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 0
