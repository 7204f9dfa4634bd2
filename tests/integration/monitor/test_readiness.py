"""/readyz: each check named, passing and failing (issue 12); /healthz stays liveness only."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from monitor_support import T0, Clock, emulator_client
from worker_threads import running

from scim_bridge.app import create_app
from scim_bridge.bootstrap import build_worker
from scim_bridge.dingtalk.emulator import RunningEmulator
from scim_bridge.directory.db import Database, alembic_config, upgrade
from scim_bridge.directory.models import BridgeState
from scim_bridge.monitor.metrics import Metrics
from scim_bridge.monitor.readiness import (
    HEARTBEAT_KEY,
    TOKEN_KEY,
    record_heartbeat,
    record_token,
)
from scim_bridge.settings import Settings
from scim_bridge.sync.worker import WorkerConfig


@pytest.fixture
def settings(db_url: str) -> Settings:
    """DingTalk configured: a worker is expected."""
    return Settings(database_url=db_url, dingtalk_app_key="key", dingtalk_app_secret="s3cr3t")


@pytest.fixture
def client(settings: Settings, database: Database, clock: Clock) -> Any:
    return create_app(settings, db=database, clock=clock).test_client()


def beat(database: Database, *, at: Any = T0, ok: bool = True, reason: str = "fetched") -> None:
    with database.write() as session:
        record_heartbeat(session, owner="host:1:abc", now=at)
        record_token(session, ok=ok, reason=reason, now=at)


def ready(client: Any) -> tuple[int, dict[str, Any]]:
    answer = client.get("/readyz")
    return answer.status_code, answer.json


def test_ready_when_every_check_passes(client: Any, database: Database, clock: Clock) -> None:
    beat(database)
    clock.now = T0 + timedelta(seconds=30)
    status, body = ready(client)
    assert status == 200 and body["status"] == "ready"
    assert list(body["checks"]) == ["database", "migrations", "worker", "dingtalk_token"]
    assert all(check["status"] == "ok" for check in body["checks"].values())
    assert body["checks"]["worker"]["reason"] == "heartbeat 30 s ago"


def test_no_worker_is_expected_before_dingtalk_is_configured(
    db_url: str, database: Database
) -> None:
    client = create_app(Settings(database_url=db_url), db=database).test_client()
    status, body = ready(client)
    assert status == 200
    assert list(body["checks"]) == ["database", "migrations"]


def test_a_stale_heartbeat_fails_the_worker_check(
    client: Any, database: Database, clock: Clock
) -> None:
    beat(database)
    clock.now = T0 + timedelta(seconds=200)  # the limit is 90 s
    status, body = ready(client)
    assert status == 503 and body["status"] == "unavailable"
    worker = body["checks"]["worker"]
    assert worker["status"] == "failing"
    assert "200 s old" in worker["reason"] and "scim-bridge worker" in worker["reason"]
    assert body["checks"]["database"]["status"] == "ok"


def test_no_heartbeat_at_all_fails_the_worker_check(client: Any) -> None:
    status, body = ready(client)
    assert status == 503
    assert body["checks"]["worker"] == {
        "status": "failing",
        "reason": "no translator has reported a heartbeat yet",
    }
    assert body["checks"]["dingtalk_token"]["status"] == "failing"


def test_a_failing_token_refresh_fails_with_its_reason(client: Any, database: Database) -> None:
    beat(database, ok=False, reason="DingTalk refused the app key or secret")
    status, body = ready(client)
    assert status == 503
    assert body["checks"]["worker"]["status"] == "ok"
    assert body["checks"]["dingtalk_token"] == {
        "status": "failing",
        "reason": "DingTalk refused the app key or secret",
    }


def test_an_old_token_refresh_fails_the_token_check(
    client: Any, database: Database, clock: Clock
) -> None:
    beat(database, at=T0 - timedelta(seconds=600))
    with database.write() as session:
        record_heartbeat(session, owner="host:1:abc", now=T0)
    status, body = ready(client)
    assert status == 503
    assert "600 s old" in body["checks"]["dingtalk_token"]["reason"]


def test_migrations_behind_the_code_fail_the_migrations_check(
    client: Any, database: Database, db_url: str
) -> None:
    beat(database)
    command.downgrade(alembic_config(db_url), "0005")
    try:
        status, body = ready(client)
    finally:
        upgrade(db_url)  # the PostgreSQL database is shared by the session's tests
    assert status == 503
    reason = body["checks"]["migrations"]["reason"]
    assert body["checks"]["migrations"]["status"] == "failing"
    assert "database at 0005" in reason and "scim-bridge db upgrade" in reason
    assert ready(client)[0] == 200


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///{tmp}",  # a directory, not a database file
        "postgresql+psycopg://postgres@127.0.0.1:1/nothing?connect_timeout=2",
    ],
    ids=["sqlite", "postgresql"],
)
def test_a_database_that_does_not_answer_fails_readiness_but_not_liveness(
    tmp_path: Path, url: str
) -> None:
    url = url.format(tmp=tmp_path)
    settings = Settings(database_url=url, dingtalk_app_key="key")
    client = create_app(settings, db=Database(url)).test_client()
    status, body = ready(client)
    assert status == 503
    assert body["checks"]["database"]["status"] == "failing"
    assert "does not answer" in body["checks"]["database"]["reason"]
    assert client.get("/healthz").status_code == 200


def wait_for(condition: Callable[[], bool], *, timeout: float = 30.0) -> None:
    """Wait until ``condition`` holds (a condition, never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def recorded(database: Database, key: str) -> bool:
    with database.read() as session:
        return session.get(BridgeState, key) is not None


@pytest.mark.parametrize("secret_ok", [True, False], ids=["token-ok", "token-refused"])
def test_a_running_worker_makes_the_api_ready_or_says_why_not(
    settings: Settings,
    database: Database,
    client: Any,
    clock: Clock,
    emulator: RunningEmulator,
    secret_ok: bool,
) -> None:
    metrics = Metrics()
    secret = emulator.emulator.config.app_secret if secret_ok else "wrong-secret"
    dingtalk = emulator_client(emulator, metrics, app_secret=secret)
    worker = build_worker(
        settings, database, client=dingtalk, clock=clock, config=WorkerConfig(threads=1)
    )
    try:
        with running(worker):
            wait_for(lambda: recorded(database, TOKEN_KEY) and recorded(database, HEARTBEAT_KEY))
            status, body = ready(client)
    finally:
        dingtalk.close()
    assert body["checks"]["worker"]["status"] == "ok"
    if secret_ok:
        assert status == 200
    else:
        assert status == 503
        reason = body["checks"]["dingtalk_token"]["reason"]
        assert body["checks"]["dingtalk_token"]["status"] == "failing"
        assert "wrong-secret" not in reason and reason
