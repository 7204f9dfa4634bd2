"""Fixtures of the event tests: the bridge's API and the emulator, each over real HTTP on
127.0.0.1, the emulator pushing its contact-change events to the bridge's callback endpoint."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from dingtalk_client_fixtures import emulator_client
from events_harness import AES_KEY, APP_KEY, TOKEN, Bridge
from sqlalchemy import delete
from werkzeug.serving import make_server

from scim_bridge.bootstrap import build_worker
from scim_bridge.dingtalk.client import DingTalkClient
from scim_bridge.dingtalk.emulator import EmulatorConfig, RunningEmulator, start_emulator
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import DingTalkEvent
from scim_bridge.http.dingtalk_events import EVENTS_PATH
from scim_bridge.settings import Settings
from scim_bridge.sync.worker import Worker, WorkerConfig


@pytest.fixture
def settings(db_url: str) -> Settings:
    """Settings with DingTalk event callbacks configured (overrides the root fixture)."""
    return Settings(
        database_url=db_url,
        dingtalk_app_key=APP_KEY,
        dingtalk_callback_token=TOKEN,
        dingtalk_callback_aes_key=AES_KEY,
    )


@pytest.fixture(autouse=True)
def empty_inbox(request: pytest.FixtureRequest) -> None:
    """The shared conftest truncates only the tables it knows; empty ours on PostgreSQL."""
    if "db_url" not in request.fixturenames:
        return
    database: Database = request.getfixturevalue("database")
    with database.write() as session:
        session.execute(delete(DingTalkEvent))


@pytest.fixture
def bridge(app: Any) -> Iterator[Bridge]:
    """The bridge's API on an ephemeral port of 127.0.0.1."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    yield Bridge(f"http://127.0.0.1:{server.port}{EVENTS_PATH}", server)
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


@pytest.fixture
def emulator(bridge: Bridge) -> Iterator[RunningEmulator]:
    """The DingTalk emulator, unthrottled, pushing its events to the bridge."""
    config = EmulatorConfig(
        qps=0,
        callback_url=bridge.url,
        callback_token=TOKEN,
        callback_aes_key=AES_KEY,
        callback_retry_delays=(0.05, 0.05),
        # DingTalk gives 1.5 s; two busy cores running many test sessions can be slower, and
        # a late answer would only turn into a retry the bridge deduplicates.
        callback_timeout=15.0,
    )
    running = start_emulator(config)
    yield running
    running.stop()


@pytest.fixture
def client(emulator: RunningEmulator) -> Iterator[DingTalkClient]:
    """A DingTalk client talking to the emulator."""
    dingtalk = emulator_client(emulator)
    yield dingtalk
    dingtalk.close()


@pytest.fixture
def worker(settings: Settings, database: Database, client: DingTalkClient) -> Worker:
    """A worker whose client talks to the emulator; drive it with run_until_idle()."""
    return build_worker(settings, database, client=client, config=WorkerConfig(threads=4))
