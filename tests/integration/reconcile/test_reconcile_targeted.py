"""The targeted reconcile DingTalk's change events call: only the records named, repaired."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from scim_bridge.dingtalk.client import DingTalkClient
from scim_bridge.dingtalk.emulator import RunningEmulator
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import OutboxEntry
from scim_bridge.settings import Settings
from scim_bridge.sync.reconcile import reconcile_targeted
from scim_bridge.sync.worker import Worker


def outbox_rows(database: Database) -> int:
    with database.read() as session:
        return int(session.scalar(select(func.count()).select_from(OutboxEntry)) or 0)


def test_an_edited_person_is_read_alone_and_repaired(
    org: Any,
    database: Database,
    settings: Settings,
    reader: DingTalkClient,
    console: DingTalkClient,
    emulator: RunningEmulator,
    worker: Worker,
) -> None:
    console.update_user("dave", {"title": "Edited", "manager_userid": "alice"})
    before = len(emulator.emulator.calls())

    result = reconcile_targeted(database, reader, settings, user_ids=["dave"])

    calls = [c["path"] for c in emulator.emulator.calls()[before:]]
    assert [p for p in calls if "token" not in p.lower()] == ["/topapi/v2/user/get"]
    assert [(d.kind, d.key, d.fields) for d in result.comparison.drift] == [
        ("user_field", org.ids["dave"], ("manager_userid", "title"))
    ]
    assert result.comparison.compared == 1
    assert result.mode == "targeted"
    worker.run_until_idle()
    dave = emulator.emulator.users()["dave"]
    assert (dave["title"], dave["manager_userid"]) == ("Staff", "carol")


def test_an_echo_of_the_bridges_own_write_queues_nothing(
    org: Any, database: Database, settings: Settings, reader: DingTalkClient
) -> None:
    result = reconcile_targeted(
        database, reader, settings, user_ids=["alice", "dave"], department_ids=[1]
    )
    assert result.comparison.drift == ()
    assert result.comparison.accuracy_percent == 100.0
    assert outbox_rows(database) == 0


def test_a_renamed_department_and_an_unknown_person_are_told_apart(
    org: Any,
    database: Database,
    settings: Settings,
    reader: DingTalkClient,
    console: DingTalkClient,
    emulator: RunningEmulator,
) -> None:
    sales = org.dept_ids(emulator)["Sales"]
    console.update_department(sales, {"name": "Sales (renamed)"})
    console.create_user(
        {"userid": "stranger", "name": "Stranger", "mobile": "13700000002", "dept_id_list": [1]}
    )
    result = reconcile_targeted(
        database, reader, settings, user_ids=["stranger"], department_ids=[str(sales)]
    )
    assert {(d.kind, d.scim_id, d.dingtalk_id) for d in result.comparison.drift} == {
        ("department_field", org.groups["Sales"], str(sales)),
        ("user_orphan", None, "stranger"),
    }
    # The orphan policy is "report": only the department is queued (its group and members).
    with database.read() as session:
        queued = set(session.execute(select(OutboxEntry.resource_type, OutboxEntry.resource_id)))
    assert ("Group", org.groups["Sales"]) in queued
    assert all(rid != "stranger" for _, rid in queued)


def test_a_person_deleted_in_dingtalk_is_put_back(
    org: Any,
    database: Database,
    settings: Settings,
    reader: DingTalkClient,
    console: DingTalkClient,
    emulator: RunningEmulator,
    worker: Worker,
) -> None:
    console.delete_user("bob")  # DingTalk raises user_leave_org for bob
    result = reconcile_targeted(database, reader, settings, user_ids=["bob"])
    assert [(d.kind, d.key, d.cause) for d in result.comparison.drift] == [
        ("stale_link", org.ids["bob"], "out_of_band")
    ]
    assert result.comparison.accuracy_percent == 0.0
    worker.run_until_idle()
    assert emulator.emulator.users()["bob"]["dept_id_list"] == [org.dept_ids(emulator)["Sales"]]
    again = reconcile_targeted(database, reader, settings, user_ids=["bob"])
    assert again.comparison.drift == () and again.comparison.accuracy_percent == 100.0
