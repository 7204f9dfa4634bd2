"""Acceptance runs of the sync engine with real processes (issue: the sync engine).

1. `scim-bridge serve` (translator embedded) against the emulator: 500 users, 20 groups,
   updates, moves, leavers, deletions, group renames and deletions -> the exact projection.
2. The same run with 20% injected faults, throttling, and the translator killed with SIGKILL
   twice and restarted: still exact, no duplicates, no dead letters, every retry logged.
3. Two API processes and two workers on PostgreSQL: the same exact result.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import pytest
from e2e_harness import IdP, actual_projection, cluster, expected_projection, run_scenario
from sqlalchemy import create_engine, select, text

from scim_bridge.directory.models import SyncEvent

pytestmark = pytest.mark.slow
TABLES = (
    "group_members, user_values, outbox, groups, users, tokens, links, dead_letters, sync_events"
)


def assert_exact(c: object, idp: IdP) -> None:
    state = c.emulator_state()  # type: ignore[attr-defined]
    expected = expected_projection(idp, state["org_name"])
    actual = actual_projection(state)
    assert actual["departments"] == expected["departments"]
    assert set(actual["users"]) == set(expected["users"])
    for userid, want in expected["users"].items():
        assert actual["users"][userid] == want, userid
    # No duplicate department or person.
    assert not [n for n, k in Counter(d["name"] for d in state["departments"]).items() if k > 1]
    assert len({u["mobile"] for u in state["users"]}) == len(state["users"])


def test_embedded_translator_reaches_the_exact_projection(tmp_path: Path) -> None:
    with cluster(tmp_path, f"sqlite:///{tmp_path / 'bridge.db'}") as c:
        c.start_emulator("--qps", "20")
        c.prepare()
        url = c.start_api("api", "--workers", "2")
        idp = IdP([url], c.token)
        run_scenario(idp)
        c.wait_converged(timeout=240)
        assert c.dead_letters() == []
        assert_exact(c, idp)


def test_chaos_faults_throttling_and_killed_workers_still_converge_exactly(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'bridge.db'}"
    # The client is allowed more than the emulator's quota, so DingTalk's throttle is met; a
    # short read timeout makes injected stalls ambiguous writes the translator must re-read.
    with cluster(
        tmp_path,
        db,
        SCIM_BRIDGE_DINGTALK_QPS="30",
        SCIM_BRIDGE_DINGTALK_READ_TIMEOUT="1.0",
        SCIM_BRIDGE_SYNC_BACKOFF_BASE="0.5",
    ) as c:
        c.start_emulator(
            "--qps",
            "20",
            "--fail-rate",
            "0.2",
            "--timeout-stall",
            "1.5",
            "--seed",
            "11",
        )
        c.prepare()
        url = c.start_api("api", "--workers", "2", "--no-worker")
        c.start("worker", "worker")
        idp = IdP([url], c.token)
        run_scenario(idp)
        for _ in range(2):
            time.sleep(3)
            c.kill("worker")  # SIGKILL: no chance to release leases
            c.start("worker", "worker")
        c.wait_converged(timeout=420)
        assert c.dead_letters() == []
        assert_exact(c, idp)
        calls = [call for call in c.emulator_calls() if call.get("fault")]
        engine = create_engine(db)
        with engine.connect() as conn:
            retries = conn.execute(
                select(SyncEvent.code, SyncEvent.detail).where(SyncEvent.outcome == "retry")
            ).all()
        engine.dispose()
        assert calls, "the emulator injected no fault"
        assert retries, "no retry was logged"
        assert all(code and detail for code, detail in retries)


@pytest.mark.postgres
def test_two_apis_and_two_workers_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    engine.dispose()
    url = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with cluster(tmp_path, url) as c:
        c.start_emulator("--qps", "20")
        c.prepare()
        api1 = c.start_api("api1", "--workers", "1", "--no-worker")
        api2 = c.start_api("api2", "--workers", "1", "--no-worker")
        c.start("worker1", "worker")
        c.start("worker2", "worker")
        idp = IdP([api1, api2], c.token)
        run_scenario(idp)
        c.wait_converged(timeout=240)
        assert c.dead_letters() == []
        assert_exact(c, idp)


if os.environ.get("SCIM_BRIDGE_SKIP_E2E"):
    pytest.skip("SCIM_BRIDGE_SKIP_E2E is set", allow_module_level=True)
