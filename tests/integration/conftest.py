"""Fixtures of the integration tests that reach DingTalk: the emulator over real HTTP and a
worker wired to it (a directory's own conftest may replace them)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dingtalk_client_fixtures import emulator_client

from scim_bridge.bootstrap import build_worker
from scim_bridge.dingtalk.emulator import EmulatorConfig, RunningEmulator, start_emulator
from scim_bridge.directory.db import Database
from scim_bridge.settings import Settings
from scim_bridge.sync.worker import Worker, WorkerConfig


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    """The DingTalk emulator on 127.0.0.1, unthrottled."""
    running = start_emulator(EmulatorConfig(qps=0))
    yield running
    running.stop()


@pytest.fixture
def worker(settings: Settings, database: Database, emulator: RunningEmulator) -> Iterator[Worker]:
    """A worker whose client talks to the emulator; drive it with run_until_idle()."""
    client = emulator_client(emulator)
    w = build_worker(settings, database, client=client, config=WorkerConfig(threads=4))
    yield w
    client.close()
