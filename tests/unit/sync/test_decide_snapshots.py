"""What the translator remembers and when it acts on it: literal snapshots in, decisions out."""

from __future__ import annotations

from typing import Any

from scim_bridge.mapping.model import REMOVE, SKIP, UPSERT, UserProjection
from scim_bridge.sync.decide_snapshots import (
    as_snapshot,
    desired_person,
    group_is_stale,
    has_person,
    held_roles,
    members_placed,
    projection_hash,
    reports_waiting,
    snapshot_hash,
    user_fields,
    user_is_stale,
)


def person(action: str = UPSERT, title: str = "Engineer") -> UserProjection:
    return UserProjection(
        scim_id="u1",
        action=action,
        userid="alice",
        fields={"name": "Alice", "title": title},
        department_keys=("group:s",),
        manager_scim_id=None,
        role_keys=(),
        link_by=(),
        warnings=(),
    )


def test_the_digest_ignores_key_order_and_changes_with_any_value() -> None:
    assert snapshot_hash({"a": 1, "b": 2}) == snapshot_hash({"b": 2, "a": 1})
    assert snapshot_hash({"a": 1}) != snapshot_hash({"a": 2})
    assert projection_hash(person()) != projection_hash(person(title="CTO"))


def test_user_fields_leave_out_departments_manager_and_our_own_keys() -> None:
    desired = {
        "name": "Alice",
        "dept_id_list": [1],
        "manager_userid": "bob",
        "_roles": [3],
        "_projection": "x",
    }
    assert user_fields(desired) == {"name": "Alice"}


def test_a_live_read_becomes_a_snapshot_without_identities_and_with_sorted_numeric_depts() -> None:
    remote = {"userid": "alice", "unionid": "u", "name": "Alice", "dept_id_list": ["9", 2]}
    assert as_snapshot(remote) == {"name": "Alice", "dept_id_list": [2, 9]}


def test_only_a_live_link_with_a_userid_and_a_snapshot_has_a_person_to_update() -> None:
    assert has_person(live=True, dingtalk_id="alice", snapshot={"name": "Alice"})
    # A userid reserved before the create finished: no snapshot yet, so create (or adopt).
    assert not has_person(live=True, dingtalk_id="alice", snapshot=None)
    assert not has_person(live=False, dingtalk_id="alice", snapshot={})
    assert not has_person(live=True, dingtalk_id=None, snapshot={})


def test_held_roles_come_from_the_snapshot_or_are_none() -> None:
    assert held_roles({"_roles": [3, 4]}) == [3, 4]
    assert held_roles(None) == []


def test_a_user_whose_projection_digest_differs_is_stale() -> None:
    assert user_is_stale(person(), live=True, known="older")
    assert not user_is_stale(person(), live=True, known=projection_hash(person()))
    assert user_is_stale(person(), live=False, known=None)  # new under the rules: create


def test_a_skipped_or_removed_user_with_nothing_in_dingtalk_is_not_stale() -> None:
    assert not user_is_stale(person(SKIP), live=False, known=None)
    assert not user_is_stale(person(REMOVE), live=False, known=None)
    assert user_is_stale(person(REMOVE), live=True, known=projection_hash(person()))


def test_a_group_no_longer_a_department_is_stale_only_while_its_department_exists() -> None:
    assert group_is_stale(None, synced=True, known="x")
    assert not group_is_stale(None, synced=False, known=None)
    wanted = {"key": "group:s", "name": "Sales"}
    assert group_is_stale(wanted, synced=True, known="older")
    assert not group_is_stale(wanted, synced=True, known=snapshot_hash(wanted))


def test_reports_without_a_manager_set_or_without_a_person_wait_for_their_manager() -> None:
    snapshots: dict[str, dict[str, Any] | None] = {
        "r1": {"manager_userid": "boss"},
        "r2": {"manager_userid": None},
        "r3": None,
    }
    assert reports_waiting(["r1", "r2", "r3", "r4"], snapshots) == ["r2", "r3", "r4"]


def test_members_placed_in_a_department_are_found_by_their_snapshot() -> None:
    placements = [
        ("a", {"dept_id_list": [7, 9]}),
        ("b", {"dept_id_list": [9]}),
        ("c", None),
    ]
    assert members_placed(7, placements) == ["a"]
    assert members_placed(9, placements) == ["a", "b"]


def test_the_desired_person_carries_departments_manager_and_the_rules_digest() -> None:
    desired = desired_person(person(), [9, 7, 9], "boss")
    assert desired == {
        "name": "Alice",
        "title": "Engineer",
        "dept_id_list": [7, 9],
        "manager_userid": "boss",
        "_projection": projection_hash(person()),
    }


def test_a_person_in_no_department_is_placed_in_the_root() -> None:
    assert desired_person(person(), [], None)["dept_id_list"] == [1]
