"""Sync lag, DingTalk calls, token refreshes and guard pauses, end to end with the emulator over
HTTP (issue 12)."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
from monitor_support import T0, Clock, emulator_client

from scim_bridge.app import create_app
from scim_bridge.dingtalk.emulator import RunningEmulator
from scim_bridge.directory.db import Database
from scim_bridge.errors import DingTalkError
from scim_bridge.monitor.gauges import StoreGauges
from scim_bridge.monitor.metrics import Metrics, parse, total
from scim_bridge.settings import Settings
from scim_bridge.sync.worker import Worker

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LAG = "scim_bridge_sync_lag_seconds"
CALLS = "scim_bridge_dingtalk_calls_total"
_mobiles = itertools.count(13600000000)


def person(name: str, department: str = "Ops") -> dict[str, Any]:
    return {
        "userName": f"{name}@example.com",
        "externalId": name,
        "displayName": name.title(),
        "phoneNumbers": [{"value": str(next(_mobiles)), "type": "mobile"}],
        ENTERPRISE: {"department": department},
    }


def retitle(title: str) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "title", "value": title}]}


@pytest.fixture
def app(settings: Settings, database: Database, clock: Clock) -> Any:
    """The app of conftest, on the clock the worker shares."""
    return create_app(settings, db=database, clock=clock)


def test_sync_lag_runs_from_the_first_unapplied_commit_to_dingtalk_acknowledging_it(
    scim: Any, worker: Worker, metrics: Metrics, clock: Clock, emulator: RunningEmulator
) -> None:
    ada = scim.post("/Users", person("ada")).json
    clock.now = T0 + timedelta(seconds=3)
    assert scim.patch(f"/Users/{ada['id']}", retitle("Lead")).status_code == 200
    clock.now = T0 + timedelta(seconds=7)  # DingTalk acknowledges at T0 + 7 s
    worker.run_until_idle()
    assert "ada" in dict(emulator.emulator.users())

    parsed = parse(metrics.exposition())
    assert total(parsed, f"{LAG}_count") == 1
    assert total(parsed, f"{LAG}_sum") == 7  # from the first commit, not the later bump
    assert total(parsed, f"{LAG}_bucket", le="5.0") == 0
    assert total(parsed, f"{LAG}_bucket", le="10.0") == 1

    # A later change is measured from its own commit.
    clock.now = T0 + timedelta(seconds=60)
    scim.patch(f"/Users/{ada['id']}", retitle("Head"))
    clock.now = T0 + timedelta(seconds=62)
    worker.run_until_idle()
    parsed = parse(metrics.exposition())
    assert total(parsed, f"{LAG}_count") == 2
    assert total(parsed, f"{LAG}_sum") == 9


def test_dingtalk_calls_and_token_refreshes_are_counted_by_api_and_outcome(
    scim: Any, worker: Worker, metrics: Metrics
) -> None:
    scim.post("/Users", person("bob"))
    worker.run_until_idle()
    parsed = parse(metrics.exposition())
    assert total(parsed, CALLS, api="/topapi/v2/user/create", outcome="ok") == 1
    assert total(parsed, "scim_bridge_dingtalk_token_refreshes_total", outcome="ok") == 1
    calls = total(parsed, CALLS)
    assert calls >= 2  # the token and the create at least
    assert total(parsed, "scim_bridge_dingtalk_call_duration_seconds_count") == calls
    outcomes = {labels["outcome"] for name, labels, _ in parsed if name == CALLS}
    # "failed": an answer DingTalk gives on purpose, e.g. "no such user" to a lookup by mobile.
    assert outcomes <= {"ok", "failed"}


def test_failed_dingtalk_calls_are_counted_with_their_outcome(
    emulator: RunningEmulator, metrics: Metrics
) -> None:
    client = emulator_client(emulator, metrics, sleep=lambda _s: None)
    client.refresh_token()
    emulator.emulator.config.fail_rate = 1.0
    emulator.emulator.config.fault_kinds = ("http500",)
    with pytest.raises(DingTalkError):
        client.count_users()
    client.close()
    parsed = parse(metrics.exposition())
    # One try and three retries of a read, each an HTTP 500 (dingtalk-api.md §12.4).
    assert total(parsed, CALLS, api="/topapi/user/count", outcome="transient") == 4
    assert total(parsed, CALLS, api="/topapi/user/count", outcome="ok") == 0


def test_a_refused_token_is_counted_as_a_failed_refresh(
    emulator: RunningEmulator, metrics: Metrics
) -> None:
    client = emulator_client(emulator, metrics, app_secret="wrong-secret")
    with pytest.raises(DingTalkError):
        client.refresh_token()
    client.close()
    parsed = parse(metrics.exposition())
    assert total(parsed, "scim_bridge_dingtalk_token_refreshes_total", outcome="failed") == 1
    assert total(parsed, "scim_bridge_dingtalk_token_refreshes_total", outcome="ok") == 0
    assert b"wrong-secret" not in metrics.exposition()


def test_a_guard_pause_is_counted_once_and_shown_while_it_holds(
    scim: Any, worker: Worker, metrics: Metrics, database: Database, clock: Clock
) -> None:
    ids = [scim.post("/Users", person(f"p{i}")).json["id"] for i in range(30)]
    worker.run_until_idle()
    deactivate = {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": False}}]}
    for uid in ids[:18]:  # 60% leave at once: the guard holds the removals
        scim.patch(f"/Users/{uid}", deactivate)
    worker.run_until_idle()
    metrics.add_collector(StoreGauges(database, clock=clock))
    parsed = parse(metrics.exposition())
    assert total(parsed, "scim_bridge_guard_pauses_total") == 1
    assert total(parsed, "scim_bridge_guard_paused") == 1
    assert total(parsed, "scim_bridge_outbox_depth") == 18
