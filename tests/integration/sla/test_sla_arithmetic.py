"""The SLA arithmetic over literal minute buckets (issue 12, acceptance 1), SQLite and PostgreSQL.

Storage is UTC; a month is read in a zone. Monthly = 1 - down / minutes in the month
(unmeasured counts as up), the alert window = 1 - down / measured, maintenance leaves both
sides, failures we cause are never charged.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sla_support import Clock, minutes, put, utc
from sqlalchemy import select

from scim_bridge.directory.db import Database
from scim_bridge.directory.models import AvailabilityMinute, MaintenanceWindow
from scim_bridge.errors import ConfigError
from scim_bridge.monitor.availability import (
    month_bounds,
    month_figure,
    month_to_date,
    rolling_window,
)
from scim_bridge.monitor.credits import credit_table
from scim_bridge.monitor.sla_recorder import AvailabilityRecorder, add_batch


def test_a_hong_kong_month_starts_at_1600_utc_on_the_last_day_before(database: Database) -> None:
    # 2026-10-31T16:00Z is 2026-11-01T00:00 in Hong Kong (UTC+8, no DST).
    put(database, minutes("2026-10-31T16:00", 10), transient=3)
    put(database, minutes("2026-11-30T16:00", 4), transient=3)  # December in Hong Kong
    assert month_bounds(date(2026, 11, 1), "Asia/Hong_Kong") == (
        utc("2026-10-31T16:00"),
        utc("2026-11-30T16:00"),
    )
    with database.read() as s:
        hk = month_figure(s, first=date(2026, 11, 1), tz="Asia/Hong_Kong")
        nov_utc = month_figure(s, first=date(2026, 11, 1), tz="UTC")
        oct_utc = month_figure(s, first=date(2026, 10, 1), tz="UTC")
        dec_hk = month_figure(s, first=date(2026, 12, 1), tz="Asia/Hong_Kong")
    assert (hk.down_minutes, hk.elapsed_minutes) == (10, 30 * 1440)
    assert hk.percent == pytest.approx(100 * (1 - 10 / 43200))
    assert (nov_utc.down_minutes, nov_utc.percent) == (4, pytest.approx(100 * (1 - 4 / 43200)))
    assert (oct_utc.down_minutes, oct_utc.elapsed_minutes) == (10, 31 * 1440)
    assert dec_hk.down_minutes == 4


@pytest.mark.parametrize(
    ("month", "days"), [(date(2026, 2, 1), 28), (date(2028, 2, 1), 29), (date(2026, 11, 1), 30),
                        (date(2026, 12, 1), 31)],
)  # fmt: skip
def test_monthly_availability_divides_by_the_minutes_of_that_month(
    database: Database, month: date, days: int
) -> None:
    start = f"{month.isoformat()}T03:00"
    put(database, minutes(start, 43), transient=2)
    put(database, minutes(f"{month.isoformat()}T12:00", 100), ok=5)  # measured and up
    with database.read() as s:
        figure = month_figure(s, first=month)
    assert figure.elapsed_minutes == days * 1440
    assert figure.down_minutes == 43 and figure.measured_minutes == 143
    assert figure.percent == pytest.approx(100 * (1 - 43 / (days * 1440)))
    # 43 minutes is within 99.9% of 30 days (43.2) but not of 28 or 29.
    assert (figure.percent is not None and figure.percent >= 99.9) == (days >= 30)


def test_the_credit_table_turns_a_month_into_a_credit_and_none_gives_nothing() -> None:
    standard = credit_table("dingtalk-standard")
    assert [standard.credit_percent(p) for p in (99.95, 99.9, 99.89, 98.0, 94.0)] == [
        0.0, 0.0, 10.0, 25.0, 100.0
    ]  # fmt: skip
    assert credit_table("none").credit_percent(50.0) == 0.0
    assert credit_table("99.5:5,97:30").credit_percent(98.0) == 5.0 + 0.0
    with pytest.raises(ConfigError, match="sla_credit_table"):
        credit_table("99.9=10")


def test_maintenance_minutes_are_neither_up_nor_down(database: Database) -> None:
    put(database, minutes("2026-11-03T02:00", 10), transient=4)  # inside the window
    put(database, minutes("2026-11-03T05:00", 5), transient=4)  # outside
    with database.write() as s:
        s.add(
            MaintenanceWindow(
                starts_at=utc("2026-11-03T02:00"),
                ends_at=utc("2026-11-03T02:10"),
                reason="upgrade",
                source="cli",
                created_at=utc("2026-11-01T00:00"),
            )
        )
    with database.read() as s:
        month = month_figure(s, first=date(2026, 11, 1))
        window = rolling_window(s, now=utc("2026-11-03T05:05"), minutes=240)
    assert (month.down_minutes, month.elapsed_minutes) == (5, 43200 - 10)
    assert month.percent == pytest.approx(100 * (1 - 5 / 43190))
    assert (window.down_minutes, window.measured_minutes, window.elapsed_minutes) == (5, 5, 230)


def test_failures_we_cause_are_counted_apart_and_never_make_a_minute_down(
    database: Database,
) -> None:
    clock = Clock("2026-11-05T10:00:05")
    recorder = AvailabilityRecorder(clock=clock)
    for outcome, times in (("failed", 10), ("auth", 2), ("throttled", 5), ("banned", 3)):
        for _ in range(times):
            recorder.call_finished("/topapi/v2/user/create", outcome, 0.05)
    recorder.call_finished("/topapi/v2/user/get", "ok", 0.05)
    clock.advance()
    for _ in range(3):
        recorder.call_finished("/topapi/v2/user/get", "transient", 0.05)
    recorder.call_finished("/topapi/v2/user/get", "ok", 0.05)
    assert recorder.flush(database, now=clock(), down_ratio=0.5)
    with database.read() as s:
        rows = {r.minute.minute: r for r in s.scalars(select(AvailabilityMinute))}
        first, second = rows[0], rows[1]
        assert (first.rejected, first.throttled, first.banned, first.ok) == (12, 5, 3, 1)
        assert (first.transient, first.down) == (0, False)
        assert (second.transient, second.ok, second.down) == (3, 1, True)
        figure = rolling_window(s, now=utc("2026-11-05T10:02"), minutes=2)
    assert (figure.measured_minutes, figure.down_minutes, figure.percent) == (2, 1, 50.0)


def test_the_alert_window_counts_measured_minutes_only_and_shows_coverage(
    database: Database,
) -> None:
    put(database, minutes("2026-11-05T09:00", 20), ok=3)
    put(database, minutes("2026-11-05T09:30", 10), transient=3)
    now = utc("2026-11-05T10:00:30")
    with database.read() as s:
        window = rolling_window(s, now=now, minutes=60)
        mtd = month_to_date(s, now=now)
        mtd_hk = month_to_date(s, now=now, tz="Asia/Hong_Kong")
    assert (window.measured_minutes, window.down_minutes, window.elapsed_minutes) == (30, 10, 60)
    assert window.percent == pytest.approx(100 * (1 - 10 / 30))
    assert window.coverage_percent == pytest.approx(50.0)
    # Month to date: 4 days and 10 hours elapsed, the unmeasured minutes count as up.
    elapsed = 4 * 1440 + 600
    assert (mtd.elapsed_minutes, mtd.down_minutes) == (elapsed, 10)
    assert mtd.percent == pytest.approx(100 * (1 - 10 / elapsed))
    assert mtd.coverage_percent == pytest.approx(100 * 30 / elapsed)
    assert mtd_hk.elapsed_minutes == elapsed + 8 * 60  # the month began 8 hours earlier there
    with database.read() as s:
        empty = rolling_window(s, now=utc("2026-11-06T10:00"), minutes=60)
    assert (empty.percent, empty.measured_minutes, empty.coverage_percent) == (None, 0, 0.0)


def test_a_retried_flush_adds_nothing_and_processes_add_into_one_minute(
    database: Database,
) -> None:
    clock = Clock("2026-11-05T10:00:05")
    here, there = AvailabilityRecorder(clock=clock), AvailabilityRecorder(clock=clock)
    here.call_finished("/topapi/v2/user/get", "ok", 0.01)
    batch = here.take()
    for _ in range(2):  # the same batch again, as after a commit whose answer was lost
        with database.write() as s:
            add_batch(s, batch, now=clock(), down_ratio=0.5)
    there.call_finished("/topapi/v2/user/get", "transient", 0.01)
    there.flush(database, now=clock(), down_ratio=0.5)
    with database.read() as s:
        row = s.scalars(select(AvailabilityMinute)).one()
        assert (row.ok, row.transient, row.down) == (1, 1, False)  # 1 of 2: not more than half
    there.call_finished("/topapi/v2/user/get", "transient", 0.01)
    there.flush(database, now=clock() + timedelta(seconds=5), down_ratio=0.5)
    with database.read() as s:
        row = s.scalars(select(AvailabilityMinute)).one()
        assert (row.ok, row.transient, row.down) == (1, 2, True)  # 2 of 3, across processes
