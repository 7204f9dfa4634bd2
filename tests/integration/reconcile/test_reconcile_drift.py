"""Acceptance 2 of issue 10: drift made in DingTalk is found exactly, measured and repaired.

Everything over real HTTP against the emulator, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from scim_bridge.dingtalk.client import DingTalkClient
from scim_bridge.dingtalk.emulator import RunningEmulator
from scim_bridge.sync.reconcile import Reconciler, reconcile_full
from scim_bridge.sync.worker import Worker


def found(result: Any) -> set[tuple[Any, ...]]:
    """The drift as (kind, scim_id, dingtalk_id, fields) tuples."""
    return {
        (d["kind"], d["scim_id"], d["dingtalk_id"], tuple(d["fields"]))
        for d in result.to_dict()["drift"]
    }


def test_a_synced_directory_shows_no_drift(org: Any, reconciler: Reconciler) -> None:
    result = reconcile_full(reconciler)
    report = result.to_dict()
    assert report["drift"] == []
    assert report["compared"] == 4
    assert report["accuracy_percent"] == 100.0


def test_drift_made_in_dingtalk_is_found_exactly_then_repaired(
    org: Any,
    reconciler: Reconciler,
    console: DingTalkClient,
    emulator: RunningEmulator,
    worker: Worker,
) -> None:
    depts = org.dept_ids(emulator)
    console.update_user("alice", {"title": "Edited in the console"})
    console.delete_user("bob")
    console.update_user("carol", {"dept_id_list": [depts["Sales"]]})
    console.create_user(
        {"userid": "stranger", "name": "Stranger", "mobile": "13700000001", "dept_id_list": [1]}
    )
    console.update_department(depts["Engineering"], {"name": "Engineering (renamed)"})

    result = reconcile_full(reconciler)

    assert found(result) == {
        ("user_field", org.ids["alice"], "alice", ("title",)),
        ("stale_link", org.ids["bob"], "bob", ()),
        ("user_departments", org.ids["carol"], "carol", ("dept_id_list",)),
        ("user_orphan", None, "stranger", ()),
        ("department_field", org.groups["Engineering"], str(depts["Engineering"]), ("name",)),
    }
    assert {d["cause"] for d in result.to_dict()["drift"]} == {"out_of_band"}
    assert result.comparison.compared == 4
    assert result.comparison.accuracy_percent == 25.0  # only dave is exactly right

    applied = reconcile_full(reconciler, apply=True)
    assert applied.to_dict()["repairs"]["queued"] >= 4
    worker.run_until_idle()

    users = emulator.emulator.users()
    assert users["alice"]["title"] == "Staff"
    assert "bob" in users
    assert users["carol"]["dept_id_list"] == [depts["Engineering"]]
    assert emulator.emulator.departments()[depts["Engineering"]]["name"] == "Engineering"

    again = reconcile_full(reconciler)
    assert found(again) == {("user_orphan", None, "stranger", ())}
    assert again.comparison.accuracy_percent == 100.0
