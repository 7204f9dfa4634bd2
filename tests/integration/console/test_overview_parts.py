"""The overview shows availability, open alerts and incidents, and the last reconcile from
their own read models once they hold something, and "not measured yet" before (issue 13)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from console_support import Clock

from scim_bridge.directory.db import Database
from scim_bridge.directory.models import Alert, AvailabilityMinute, Incident, ReconcileRun


def parts(client: Any) -> dict[str, str]:
    body = client.get("/admin/overview.json").get_json()
    return {p["title"]: p["text"] for p in body["placeholders"]}


def test_parts_say_not_measured_until_their_read_models_hold_something(
    as_admin: Any, database: Database, clock: Clock
) -> None:
    before = parts(as_admin)
    assert before["DingTalk availability"] == "not measured yet"
    assert before["Open alerts and incidents"] == "none open"
    assert before["Last reconcile"] == "not measured yet"

    now = clock()
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    with database.write() as session:
        for n in range(10):  # ten measured minutes this month, two of them down
            minute = start + timedelta(minutes=n)
            down = n < 2
            session.add(
                AvailabilityMinute(minute=minute, ok=0 if down else 5, transient=3 if down else 0, down=down)  # noqa: E501
            )  # fmt: skip
        empty = {"seen": []}
        session.add(
            Incident(started_at=start, ended_at=None, down_minutes=2, apis=empty, errcodes=empty)
        )
        session.add(
            Alert(key="sync_lag", rule="sync_lag", severity="warning", status="firing",
                  summary="the oldest waiting change has waited 400 s", started_at=now,
                  announced=True, labels={})
        )  # fmt: skip
        session.add(
            ReconcileRun(started_at=now, finished_at=now, lease_expires_at=now, holder="t",
                         status="done", mode="full", trigger="cli", applied=False, compared=40,
                         accuracy_percent=97.5, drift={"user_field": 1}, calls_estimated=9,
                         calls_made=9)
        )  # fmt: skip

    after = parts(as_admin)
    assert after["DingTalk availability"].startswith("99.")
    assert "2 min down" in after["DingTalk availability"]
    alerts = after["Open alerts and incidents"]
    assert "warning: the oldest waiting change has waited 400 s" in alerts
    assert "DingTalk incident open since" in alerts
    assert after["Last reconcile"].startswith("97.5% accurate, 1 difference(s), full at ")
