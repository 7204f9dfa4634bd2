"""Acceptance 2 of issue 12, over real HTTP: the DingTalk emulator is unavailable for three
minutes of clock time. The signature-checking robot receiver gets signed messages, the ITSM
receiver gets exactly one critical event and, once DingTalk has recovered and the window has
rolled past the outage (plus the hold-down), exactly one resolved event; the change that
waited meanwhile raises a lag alert, grouped under the outage.

Nothing sleeps: the clock is injected into the emulator, the SLA jobs, the worker and the
alert job, and each minute is one explicit probe, translator run and evaluation.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from alert_receiver import Clock, Receiver, serve_receiver
from alert_support import alert_settings, events
from dingtalk_client_fixtures import emulator_client

from scim_bridge.app import create_app
from scim_bridge.bootstrap import build_alerting, build_worker, sla_jobs
from scim_bridge.dingtalk.emulator import EmulatorConfig, RunningEmulator, start_emulator
from scim_bridge.directory.db import Database
from scim_bridge.monitor.availability import month_to_date
from scim_bridge.monitor.sla_recorder import Fanout
from scim_bridge.sync.worker import WorkerConfig

USER = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "waiting@example.com",
    "externalId": "waiting",
    "displayName": "Waiting",
    "phoneNumbers": [{"value": "+86 13912345678", "type": "mobile"}],
}


@pytest.fixture
def now_clock() -> Clock:
    # SCIM writes stamp the real time: start the clock there, so a change's age is clock time.
    return Clock(datetime.now(UTC))


@pytest.fixture
def live(now_clock: Clock) -> Iterator[tuple[RunningEmulator, Receiver]]:
    with (
        start_emulator(EmulatorConfig(qps=0, clock=now_clock.epoch)) as emulator,
        serve_receiver(now_clock) as receiver,
    ):
        yield emulator, receiver


def test_three_minutes_of_dingtalk_outage_page_once_resolve_once_and_raise_a_lag_alert(
    database: Database, now_clock: Clock, live: tuple[RunningEmulator, Receiver], token: str
) -> None:
    clock = now_clock
    emulator, receiver = live
    # A 5-minute window so the test rolls past the outage quickly; 90 s so that the change
    # waiting through a three-minute outage is a lag alert (defaults: 60 min, 300 s).
    settings = alert_settings(database, receiver, sla_window_minutes=5, alert_lag_seconds=90)
    sla = sla_jobs(settings, database, clock=clock)
    assert sla is not None
    client = emulator_client(
        emulator,
        sleep=lambda seconds: None,  # the client's retry pauses: clock time, not wall time
        observer=Fanout(sla.recorder),
    )
    worker = build_worker(
        settings, database, client=client, clock=clock, config=WorkerConfig(threads=2), sla=sla
    )
    worker.outcomes.rng = random.Random(12)  # the backoff's jitter, reproducible
    alerts = build_alerting(settings, database, clock=clock, environ={})
    scim = create_app(settings, db=database).test_client()

    def minute() -> None:
        """One minute of clock time: probe, translate what is due, count, evaluate."""
        sla.probe()
        worker.run_until_idle()
        sla.flush()
        alerts.run_once()
        clock.advance(minutes=1)

    try:
        emulator.emulator.configure(fail_rate=1.0, fault_kinds=("http500",))
        clock.now = datetime.now(UTC)  # the SCIM write below stamps the real time
        created = scim.post(
            "/scim/v2/Users",
            json=USER,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"},
        )
        assert created.status_code == 201
        for _ in range(3):
            minute()
        emulator.emulator.configure(fail_rate=0.0)
        for _ in range(12):  # the window rolls past the outage, then the 5-minute hold-down
            minute()
    finally:
        client.close()

    assert events(receiver.itsm) == [
        ("firing", "dingtalk_availability", "critical"),
        ("resolved", "dingtalk_availability", "critical"),
    ]
    firing, resolved = receiver.itsm
    assert firing["key"] == resolved["key"] == "dingtalk_availability"
    # Every robot message passed the DingTalk-style signature check and the 20/min limit.
    assert receiver.robot_refused == [] and receiver.robot
    texts = [m["markdown"]["text"] for m in receiver.robot]
    assert any("FIRING" in t and "dingtalk_availability" in t for t in texts)
    assert any("RESOLVED" in t and "dingtalk_availability" in t for t in texts)
    lag_lines = [line for t in texts for line in t.splitlines() if "`sync_lag`" in line]
    assert lag_lines and "grouped under `dingtalk_availability`" in lag_lines[0]
    assert "FIRING" in lag_lines[0]
    # The change reached DingTalk once it answered; the SLA counted three minutes down.
    assert "waiting" in {u.get("name", "").lower() for u in _users(emulator)}
    with database.read() as session:
        assert month_to_date(session, now=clock()).down_minutes == 3


def _users(emulator: RunningEmulator) -> list[dict[str, Any]]:
    return list(emulator.emulator.users().values())
