"""The overview's 24-hour sync lag: sampled by the worker, drawn as a sparkline (issue 13)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from console_support import T0, Clock

from scim_bridge.directory.db import Database
from scim_bridge.directory.models import BridgeState, OutboxEntry
from scim_bridge.monitor.lag_history import HOURS, STATE_KEY, lag_24h, record_lag_sample
from scim_bridge.sync.console_actions import sample_lag


def waiting_since(database: Database, seconds: float) -> None:
    with database.write() as session:
        session.add(
            OutboxEntry(
                resource_type="User",
                resource_id="u1",
                changed_at=T0,
                first_changed_at=T0 - timedelta(seconds=seconds),
                available_at=T0,
            )
        )


def test_each_hour_keeps_its_worst_sample_for_a_day(database: Database) -> None:
    with database.read() as session:
        assert lag_24h(session, now=T0) == []  # nothing sampled: the page says so
    waiting_since(database, 30)
    clock = Clock(T0)
    sample_lag(database, clock=clock)  # 30 s
    clock.advance(minutes=10)
    sample_lag(database, clock=clock)  # 630 s: the hour's worst
    with database.write() as session:
        record_lag_sample(session, now=T0 + timedelta(minutes=20))  # 1230 s
    with database.read() as session:
        hours = lag_24h(session, now=T0 + timedelta(minutes=30))
    assert len(hours) == HOURS and hours[-1] == 1230.0 and hours[:-1] == [0.0] * (HOURS - 1)
    with database.read() as session:
        later = lag_24h(session, now=T0 + timedelta(hours=5))
    assert later[-6] == 1230.0 and later[-1] == 0.0
    with database.write() as session:  # a day later the old hour is forgotten
        record_lag_sample(session, now=T0 + timedelta(hours=HOURS + 1))
    with database.read() as session:
        assert max(lag_24h(session, now=T0 + timedelta(hours=HOURS + 1))) > 1230.0
        stored = session.get(BridgeState, STATE_KEY)
        assert stored is not None and list(stored.value["hours"]) == ["2026-12-08T10"]


def test_the_overview_draws_the_sparkline_once_samples_exist(
    as_admin: Any, database: Database, clock: Clock
) -> None:
    assert "24 h: not measured yet" in as_admin.get("/admin/").get_data(as_text=True)
    waiting_since(database, 60)
    sample_lag(database, clock=clock)
    page = as_admin.get("/admin/").get_data(as_text=True)
    assert "<polyline points=" in page and "not measured yet</p>\n  </div>" not in page
    assert as_admin.get("/admin/overview.json").get_json()["lag_24h"][-1] == 60.0


def test_two_workers_take_one_sample_a_minute_between_them(database: Database) -> None:
    waiting_since(database, 30)
    first, second = Clock(T0), Clock(T0 + timedelta(seconds=5))
    sample_lag(database, clock=first)  # worker one: 30 s
    sample_lag(database, clock=second)  # worker two, 5 s later: not its turn
    with database.read() as session:
        stored = session.get(BridgeState, STATE_KEY)
        assert stored is not None and stored.value["hours"] == {"2026-12-07T09": 30.0}
    first.advance(minutes=1)
    with database.write() as session:
        assert record_lag_sample(session, now=first.now) == 90.0  # a minute on: the next turn
