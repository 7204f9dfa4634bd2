"""Fixtures of the explain tests: the emulator over real HTTP, a worker on a held clock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from dingtalk_client_fixtures import emulator_client
from explain_support import Clock

from scim_bridge.bootstrap import build_worker, load_mapping
from scim_bridge.dingtalk.client import DingTalkClient
from scim_bridge.dingtalk.emulator import EmulatorConfig, RunningEmulator, start_emulator
from scim_bridge.directory.db import Database
from scim_bridge.mapping.rules import MappingRules
from scim_bridge.monitor.explain import Explanation, explain
from scim_bridge.settings import Settings
from scim_bridge.sync.worker import Worker, WorkerConfig


@pytest.fixture
def clock() -> Clock:
    """A held clock."""
    return Clock()


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    """The DingTalk emulator on 127.0.0.1, unthrottled until a test says otherwise."""
    running = start_emulator(EmulatorConfig(qps=0))
    yield running
    running.stop()


@pytest.fixture
def client(emulator: RunningEmulator) -> Iterator[DingTalkClient]:
    """A client of the emulator that gives up at once: no sleeping retries in tests."""
    made = emulator_client(
        emulator,
        sleep=lambda _s: None,
        throttle_retries=0,
        transient_retries=0,
    )
    yield made
    made.close()


@pytest.fixture
def worker(settings: Settings, database: Database, client: DingTalkClient, clock: Clock) -> Worker:
    """A worker on the held clock; drive it with run_until_idle()."""
    return build_worker(
        settings, database, client=client, clock=clock, config=WorkerConfig(threads=2)
    )


@pytest.fixture
def sync(worker: Worker, clock: Clock) -> Any:
    """Run the worker over everything written so far, at a held time."""

    def run() -> None:
        clock.catch_up()
        worker.run_until_idle()

    return run


@pytest.fixture
def rules(settings: Settings) -> MappingRules:
    """The mapping rules the worker projects with."""
    return load_mapping(settings)


@pytest.fixture
def explained(
    database: Database,
    client: DingTalkClient,
    settings: Settings,
    rules: MappingRules,
    clock: Clock,
) -> Any:
    """explain(who) with the live read through the emulator, at the held clock's time."""

    def run(who: str, *, live: bool = True) -> Explanation:
        reader = client.find_user if live else None
        return explain(database, reader, settings, rules, who, now=clock())

    return run
