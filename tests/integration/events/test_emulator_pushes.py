"""The emulator pushes signed contact-change events for API writes and admin-console edits."""

from __future__ import annotations

from sqlalchemy import select

from scim_bridge.dingtalk.client import DingTalkClient
from scim_bridge.dingtalk.emulator import RunningEmulator
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import DingTalkEvent


def stored(database: Database) -> list[tuple[str, list[str], list[int]]]:
    with database.read() as session:
        rows = session.scalars(select(DingTalkEvent).order_by(DingTalkEvent.id))
        return [(r.event_type, r.user_ids, r.dept_ids) for r in rows]


def seed(emulator: RunningEmulator) -> int:
    """One department with one person in it, loaded directly (no pushes)."""
    emulator.emulator.load(
        {
            "departments": [{"dept_id": 500000001, "name": "Sales", "parent_id": 1}],
            "users": [
                {
                    "userid": "alice",
                    "name": "Alice",
                    "mobile": "13900000001",
                    "dept_id_list": [500000001],
                }
            ],
        }
    )
    return 500000001


def test_api_writes_push_events_the_bridge_stores(
    emulator: RunningEmulator, client: DingTalkClient, database: Database
) -> None:
    client.create_department("Ops", 1)
    client.create_user(
        {"userid": "bob", "name": "Bob", "mobile": "13900000002", "dept_id_list": [1]}
    )
    client.update_user("bob", {"title": "Lead"})
    client.delete_user("bob")
    assert emulator.emulator.callbacks.flush()
    events = stored(database)
    assert [e[0] for e in events] == [
        "org_dept_create",
        "user_add_org",
        "user_modify_org",
        "user_leave_org",
    ]
    assert events[1][1] == ["bob"]
    assert len(events[0][2]) == 1
    assert all(d.delivered and d.attempts == 1 for d in emulator.emulator.callbacks.deliveries())


def test_admin_console_edits_push_events_without_api_calls(
    emulator: RunningEmulator, database: Database
) -> None:
    sales = seed(emulator)
    admin = emulator.emulator.admin
    admin.update_user("alice", title="Boss")
    ops = admin.add_department("Ops")
    admin.move_user("alice", [ops])
    admin.add_user("zed", name="Zed", mobile="13900000009")
    admin.rename_department(sales, "Sales EMEA")
    admin.delete_user("zed")
    assert emulator.emulator.callbacks.flush()
    assert stored(database) == [
        ("user_modify_org", ["alice"], []),
        ("org_dept_create", [], [ops]),
        ("user_modify_org", ["alice"], []),
        ("user_add_org", ["zed"], []),
        ("org_dept_modify", [], [sales]),
        ("user_leave_org", ["zed"], []),
    ]
    users = emulator.emulator.users()
    assert users["alice"]["title"] == "Boss"
    assert users["alice"]["dept_id_list"] == [ops]
    assert emulator.emulator.departments()[sales]["name"] == "Sales EMEA"
    assert emulator.emulator.calls() == []  # out of band: no API call was made


def test_admin_console_refuses_what_the_api_refuses(emulator: RunningEmulator) -> None:
    seed(emulator)
    try:
        emulator.emulator.admin.move_user("alice", [999])
    except ValueError as exc:
        assert "60003" in str(exc)
    else:
        raise AssertionError("moving into a missing department was accepted")
    assert emulator.emulator.users()["alice"]["dept_id_list"] == [500000001]


def test_push_the_bridge_refuses_is_retried_then_given_up(
    emulator: RunningEmulator, database: Database
) -> None:
    seed(emulator)
    emulator.emulator.configure(callback_token="not-the-bridges-token")
    emulator.emulator.admin.update_user("alice", title="Boss")
    assert emulator.emulator.callbacks.flush()
    (delivery,) = emulator.emulator.callbacks.deliveries()
    assert not delivery.delivered
    assert delivery.attempts == 3  # the first push and DingTalk's two retries
    assert delivery.detail == "HTTP 403"
    assert stored(database) == []


def test_no_callback_url_means_no_pushes(emulator: RunningEmulator, database: Database) -> None:
    seed(emulator)
    emulator.emulator.configure(callback_url="")
    emulator.emulator.admin.update_user("alice", title="Boss")
    assert emulator.emulator.callbacks.flush()
    assert emulator.emulator.callbacks.deliveries() == []
    assert stored(database) == []
