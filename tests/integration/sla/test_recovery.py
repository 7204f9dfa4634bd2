"""A change the translator could not deliver while DingTalk was down is delivered as soon as
the probe sees DingTalk answer again, not when its backoff timer expires (issue 12)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from dingtalk_client_fixtures import emulator_client
from sla_support import Clock
from sqlalchemy import select

from scim_bridge.app import create_app
from scim_bridge.bootstrap import build_worker, sla_jobs
from scim_bridge.dingtalk.emulator import EmulatorConfig, RunningEmulator, start_emulator
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import OutboxEntry
from scim_bridge.monitor.availability import aware, open_incident
from scim_bridge.monitor.sla_recorder import Fanout
from scim_bridge.settings import Settings
from scim_bridge.sync.worker import Worker, WorkerConfig


@pytest.fixture
def clock() -> Clock:
    return Clock("2026-11-05T10:00:40")


@pytest.fixture
def app(settings: Settings, database: Database, clock: Clock) -> Any:
    """The app of conftest, on the clock the worker shares."""
    return create_app(settings, db=database, clock=clock)


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    running = start_emulator(EmulatorConfig(qps=0))
    yield running
    running.stop()


@pytest.fixture
def worker(
    settings: Settings, database: Database, emulator: RunningEmulator, clock: Clock, tmp_path: Any
) -> Iterator[Worker]:
    """A worker as bootstrap builds it, its client counted by the SLA recorder, no real sleeps;
    a first backoff of about 20 minutes, so only a release makes the change due in this test."""
    jobs = sla_jobs(settings.replace(runtime_dir=str(tmp_path)), database, clock=clock)
    assert jobs is not None
    client = emulator_client(
        emulator,
        sleep=lambda _s: None,
        observer=Fanout(jobs.recorder),
    )
    w = build_worker(
        settings,
        database,
        client=client,
        clock=clock,
        config=WorkerConfig(threads=2, backoff_base=1200, backoff_cap=3600),
        sla=jobs,
    )
    yield w
    client.close()


def _waiting(database: Database) -> list[tuple[int, Any]]:
    with database.read() as s:
        return [
            (a, aware(t))
            for a, t in s.execute(select(OutboxEntry.attempts, OutboxEntry.available_at))
        ]


def test_a_change_held_back_by_an_outage_goes_out_when_the_probe_sees_recovery(
    scim: Any, worker: Worker, database: Database, emulator: RunningEmulator, clock: Clock
) -> None:
    assert worker.sla is not None
    emulator.emulator.configure(fail_rate=1.0, fault_kinds=["http502"])
    mobile = [{"value": "13600000001", "type": "mobile"}]
    ada = {"userName": "ada@example.com", "displayName": "Ada", "phoneNumbers": mobile}
    created = scim.post("/Users", ada)
    assert created.status_code == 201
    worker.run_until_idle()
    [(attempts, due)] = _waiting(database)
    assert attempts == 1 and due > clock()  # in backoff: DingTalk answered 502
    assert worker.sla.probe() == "failed"
    clock.advance()
    assert worker.sla.probe() == "failed"  # 10:00 settles down: an incident opens
    with database.read() as s:
        assert open_incident(s) is not None
    clock.advance()
    emulator.emulator.configure(fail_rate=0.0)
    worker.run_until_idle()
    assert _waiting(database)[0][0] == 1  # still waiting for its timer ...
    assert worker.sla.probe() == "ok"  # ... until the probe sees DingTalk answer
    assert _waiting(database) == [(1, clock())]
    worker.run_until_idle()
    assert _waiting(database) == []
    assert created.json["id"] in dict(emulator.emulator.users())  # DingTalk has her now
