"""Every reconcile is stored; one runs at a time across processes; its calls are estimated."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scim_bridge.dingtalk.client import DingTalkClient
from scim_bridge.dingtalk.emulator import RunningEmulator
from scim_bridge.directory.db import Database
from scim_bridge.errors import ReconcileBusy, ReconcileOverBudget
from scim_bridge.monitor.reconcile_state import history, latest
from scim_bridge.sync import reconcile_runs
from scim_bridge.sync.reconcile import Reconciler, reconcile_full
from scim_bridge.sync.reconcile_estimate import Estimate
from scim_bridge.sync.reconcile_runs import RunStart

T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def held_by_another(database: Database, *, now: datetime) -> int:
    """A reconcile another process started and is still running."""
    return reconcile_runs.start(database, RunStart("full", "schedule", False, "other:1"), now=now)


def test_the_estimate_is_shown_first_and_equals_the_calls_of_an_unchanged_directory(
    org: Any, reconciler: Reconciler, emulator: RunningEmulator
) -> None:
    shown: list[Estimate] = []
    reconciler.on_estimate = shown.append
    before = len(emulator.emulator.calls())
    result = reconcile_full(reconciler)
    api_calls = [c for c in emulator.emulator.calls()[before:] if "token" not in c["path"].lower()]
    # Two departments: 3 listsub, 2 department/get, 3 member pages; dave's manager: 1 user/get.
    assert shown == [Estimate(tree=3, departments=2, pages=3, details=1)]
    assert result.calls_made == len(api_calls) == shown[0].total == 9


def test_every_run_is_stored_and_the_latest_is_readable(
    org: Any, reconciler: Reconciler, console: DingTalkClient, database: Database
) -> None:
    reconcile_full(reconciler)
    console.update_user("alice", {"title": "Edited"})
    second = reconcile_full(reconciler)
    with database.read() as session:
        runs = history(session)
        newest = latest(session)
    assert [r.id for r in runs] == [second.run_id, second.run_id - 1]
    assert newest is not None and newest.id == second.run_id
    assert newest.status == "done" and newest.mode == "full" and newest.trigger == "cli"
    assert newest.accuracy_percent == 75.0
    assert newest.drift["user_field"] == 1 and sum(newest.drift.values()) == 1
    assert newest.calls_made == newest.calls_estimated == 9


def test_a_second_reconcile_does_not_start_while_one_runs(
    org: Any, reconciler: Reconciler, database: Database, emulator: RunningEmulator
) -> None:
    reconciler.clock = lambda: T0
    held_by_another(database, now=T0)
    before = len(emulator.emulator.calls())
    with pytest.raises(ReconcileBusy, match="already running"):
        reconcile_full(reconciler)
    assert len(emulator.emulator.calls()) == before  # not one DingTalk call

    # The other process died: its lease runs out and the next reconcile takes over.
    reconciler.clock = lambda: T0 + reconcile_runs.LEASE + timedelta(seconds=1)
    assert reconcile_full(reconciler).comparison.drift == ()
    with database.read() as session:
        assert [r.status for r in history(session)] == ["done", "abandoned"]


def test_two_starting_at_once_one_runs(database: Database) -> None:
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def start(name: str) -> None:
        barrier.wait()
        try:
            reconcile_runs.start(database, RunStart("full", "cli", False, name), now=T0)
            outcomes.append("ran")
        except ReconcileBusy:
            outcomes.append("busy")

    threads = [threading.Thread(target=start, args=(f"p{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["busy", "ran"]


def test_a_reconcile_over_the_monthly_budget_is_refused_before_any_call(
    org: Any, reconciler: Reconciler, emulator: RunningEmulator
) -> None:
    reconciler.settings = reconciler.settings.replace(reconcile_monthly_call_budget=12)
    reconcile_full(reconciler)  # 9 calls of 12
    before = len(emulator.emulator.calls())
    with pytest.raises(ReconcileOverBudget, match="only 3 of this month's budget of 12"):
        reconcile_full(reconciler)
    assert len(emulator.emulator.calls()) == before
