"""Incremental reconcile: departments touched since the last run, then a rotating slice."""

from __future__ import annotations

from typing import Any

from scim_bridge.dingtalk.client import DingTalkClient
from scim_bridge.dingtalk.emulator import RunningEmulator
from scim_bridge.sync.reconcile import Reconciler, reconcile_full
from scim_bridge.sync.worker import Worker

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def api_calls(emulator: RunningEmulator, since: int) -> list[dict[str, Any]]:
    return [c for c in emulator.emulator.calls()[since:] if "token" not in c["path"].lower()]


def departments_read(emulator: RunningEmulator, since: int) -> set[int]:
    return {c["dept_id"] for c in api_calls(emulator, since) if c["dept_id"] is not None}


def test_only_touched_departments_then_the_next_slice_are_read(
    org: Any,
    scim: Any,
    worker: Worker,
    reconciler: Reconciler,
    console: DingTalkClient,
    emulator: RunningEmulator,
) -> None:
    depts = org.dept_ids(emulator)
    reconcile_full(reconciler)
    retitle = {"op": "replace", "path": "title", "value": "Lead"}
    scim.patch(f"/Users/{org.ids['carol']}", {"schemas": [PATCH], "Operations": [retitle]})
    worker.run_until_idle()  # carol's link changes: Engineering is "touched"
    console.update_user("dave", {"title": "Edited"})  # in Engineering
    console.update_user("alice", {"title": "Edited"})  # in Sales

    reconciler.settings = reconciler.settings.replace(reconcile_incremental_slice=0)
    before = len(emulator.emulator.calls())
    touched = reconcile_full(reconciler, incremental=True)
    assert [(d.kind, d.dingtalk_id) for d in touched.comparison.drift] == [("user_field", "dave")]
    assert touched.comparison.compared == 2  # carol and dave
    assert touched.mode == "incremental"
    read = departments_read(emulator, before)
    assert read == {depts["Engineering"]}
    assert touched.calls_made == touched.estimate.total == 3  # department/get, 1 page, dave

    # Nothing touched since: each run reads the next department in dept_id order.
    reconciler.settings = reconciler.settings.replace(reconcile_incremental_slice=1)
    seen = []
    for _ in range(3):
        before = len(emulator.emulator.calls())
        result = reconcile_full(reconciler, incremental=True)
        seen.append((departments_read(emulator, before), result))
    assert [s for s, _ in seen] == [{1}, {depts["Sales"]}, {depts["Engineering"]}]
    assert [(d.kind, d.dingtalk_id) for d in seen[1][1].comparison.drift] == [
        ("user_field", "alice")
    ]
