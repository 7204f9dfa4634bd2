"""The probe against the emulator over HTTP: down, then up -> an incident, the backoff released."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from dingtalk_client_fixtures import emulator_client
from sla_support import Clock, utc
from sqlalchemy import select, update

from scim_bridge.dingtalk.client import ROOT_DEPT_ID
from scim_bridge.dingtalk.emulator import EmulatorConfig, RunningEmulator, start_emulator
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import AvailabilityMinute, Incident, OutboxEntry
from scim_bridge.directory.outbox import Lane, mark_changed
from scim_bridge.monitor.availability import aware, open_incident
from scim_bridge.monitor.credits import credit_table
from scim_bridge.monitor.sla_jobs import SlaJobs, SlaPolicy
from scim_bridge.monitor.sla_recorder import AvailabilityRecorder, Fanout


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    """The DingTalk emulator on 127.0.0.1, unthrottled."""
    running = start_emulator(EmulatorConfig(qps=0))
    yield running
    running.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock("2026-11-05T10:00:40")  # 10 s after a minute settles (SETTLE 30 s)


@pytest.fixture
def jobs(database: Database, emulator: RunningEmulator, clock: Clock) -> Iterator[SlaJobs]:
    """SLA jobs whose recorder counts the calls of a real client of the emulator."""
    recorder = AvailabilityRecorder(clock=clock)
    client = emulator_client(
        emulator,
        sleep=lambda _s: None,  # the client's retry backoff: no real waiting in tests
        observer=Fanout(recorder),
    )
    policy = SlaPolicy(
        target_percent=99.9,
        probe_seconds=60,
        flush_seconds=5,
        down_ratio=0.5,
        credits=credit_table("none"),
        maintenance=[],
        report_tz="UTC",
    )
    yield SlaJobs(
        db=database,
        recorder=recorder,
        policy=policy,
        clock=clock,
        probe_read=lambda: client.get_department(ROOT_DEPT_ID),
    )
    client.close()


def _waiting_in_backoff(database: Database, clock: Clock) -> None:
    with database.write() as s:
        mark_changed(s, "User", ["u-1", "u-2"], actor="okta", now=clock(), lane=Lane.UPDATE)
        s.execute(
            update(OutboxEntry)
            .where(OutboxEntry.resource_id == "u-1")
            .values(attempts=2, available_at=clock() + timedelta(minutes=20))
        )


def test_dingtalk_down_then_up_opens_and_closes_an_incident_and_releases_the_backoff(
    database: Database, emulator: RunningEmulator, jobs: SlaJobs, clock: Clock
) -> None:
    _waiting_in_backoff(database, clock)
    emulator.emulator.configure(fail_rate=1.0, fault_kinds=["http502"])
    assert jobs.probe() == "failed"
    clock.advance()
    assert jobs.probe() == "failed"  # the 10:00 minute is complete now: the incident opens
    with database.read() as s:
        incident = open_incident(s)
        assert incident is not None and aware(incident.started_at) == utc("2026-11-05T10:00")
    assert jobs.released is None  # nothing is released while DingTalk still fails
    clock.advance()
    emulator.emulator.configure(fail_rate=0.0)
    assert jobs.probe() == "ok"  # DingTalk answers while the incident is open: release
    assert jobs.released == 1
    with database.read() as s:
        due = aware(s.scalars(select(OutboxEntry.available_at).where(
            OutboxEntry.resource_id == "u-1")).one())  # fmt: skip
        assert due == clock()
    clock.advance()
    assert jobs.probe() == "ok"  # 10:02 was up: the incident closes
    with database.read() as s:
        assert open_incident(s) is None
        incident = s.scalars(select(Incident)).one()
        assert incident.ended_at is not None and aware(incident.ended_at) == utc("2026-11-05T10:02")
        assert incident.down_minutes == 2
        # The emulator's 502 as the client names it, on the calls the probe made.
        assert incident.errcodes["seen"] and "transient" not in incident.errcodes["seen"]
        assert incident.apis["seen"]
        rows = {aware(r.minute): r for r in s.scalars(select(AvailabilityMinute))}
    assert rows[utc("2026-11-05T10:00")].probe_failed == 1
    assert rows[utc("2026-11-05T10:00")].down and not rows[utc("2026-11-05T10:02")].down
    assert rows[utc("2026-11-05T10:02")].probe_ok == 1


def test_only_one_process_probes_per_interval(
    database: Database, emulator: RunningEmulator, jobs: SlaJobs, clock: Clock
) -> None:
    sibling = SlaJobs(
        db=database,
        recorder=AvailabilityRecorder(clock=clock),
        policy=jobs.policy,
        clock=clock,
        probe_read=jobs.probe_read,
    )
    assert jobs.probe() == "ok"
    assert sibling.probe() is None  # its turn comes next interval
    clock.advance(timedelta(seconds=30))
    assert jobs.probe() is None
    clock.advance(timedelta(seconds=30))
    assert sibling.probe() == "ok"
