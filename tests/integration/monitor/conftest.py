"""Fixtures of the monitor tests: the emulator over real HTTP, metrics, a worker wired to both."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from monitor_support import Clock, emulator_client

from scim_bridge.bootstrap import build_worker
from scim_bridge.dingtalk.emulator import EmulatorConfig, RunningEmulator, start_emulator
from scim_bridge.directory.db import Database
from scim_bridge.monitor.metrics import Metrics
from scim_bridge.settings import Settings
from scim_bridge.sync.worker import Worker, WorkerConfig


@pytest.fixture
def clock() -> Clock:
    """A hand-moved clock shared by the app and the worker."""
    return Clock()


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    """The DingTalk emulator on 127.0.0.1, unthrottled."""
    running = start_emulator(EmulatorConfig(qps=0))
    yield running
    running.stop()


@pytest.fixture
def metrics() -> Metrics:
    """Single-process metrics (the worker's and the client's)."""
    return Metrics()


@pytest.fixture
def worker(
    settings: Settings,
    database: Database,
    emulator: RunningEmulator,
    metrics: Metrics,
    clock: Clock,
) -> Iterator[Worker]:
    """A worker on the emulator, reporting to ``metrics``; drive it with run_until_idle()."""
    client = emulator_client(emulator, metrics)
    w = build_worker(
        settings,
        database,
        client=client,
        clock=clock,
        config=WorkerConfig(threads=2),
        metrics=metrics,
    )
    yield w
    client.close()
