"""Department, role and manager rules of the decision engine: literal data in, literal ops out.

The translator decides one department or role at a time with these functions, ``plan`` the
whole directory; both are covered here without a database or a client.
"""

from __future__ import annotations

from scim_bridge.mapping.model import DepartmentSpec, RoleSpec
from scim_bridge.sync.decide import FieldChange, Kind, Operation, Target
from scim_bridge.sync.decide_departments import (
    delete_department,
    department_ops,
    department_snapshot,
    must_record_department,
    new_id,
    parents_first,
    plan_departments,
    plan_roles,
    role_group_key,
    role_ops,
)
from scim_bridge.sync.decide_snapshots import PROJECTION, snapshot_hash

SALES = DepartmentSpec("group:s", "Sales", "root", "scim:group:s")
EMEA = DepartmentSpec("group:e", "EMEA", "group:s", "scim:group:e")
OWNERS = RoleSpec("group:o", "Owners", "SCIM")


# --- one department (the translator's step) ------------------------------------------------


def test_a_department_without_a_link_is_created_under_a_placeholder_id() -> None:
    assert department_ops(SALES, dept_id=None, parent_id=1, held=None) == [
        Operation(
            Kind.CREATE,
            Target.DEPARTMENT,
            "group:s",
            "new:group:s",
            "Sales",
            (
                FieldChange("name", None, "Sales"),
                FieldChange("parent_id", None, "1"),
                FieldChange("source_identifier", None, "scim:group:s"),
            ),
        )
    ]


def test_a_linked_department_matching_its_snapshot_needs_no_operation() -> None:
    held = department_snapshot(SALES, 1)
    assert department_ops(SALES, dept_id=7, parent_id=1, held=held) == []


def test_a_renamed_group_renames_its_linked_department_in_place() -> None:
    held = department_snapshot(DepartmentSpec("group:s", "Old", "root", "scim:group:s"), 1)
    assert department_ops(SALES, dept_id=7, parent_id=1, held=held) == [
        Operation(
            Kind.UPDATE,
            Target.DEPARTMENT,
            "group:s",
            "7",
            "Sales",
            (FieldChange("name", "Old", "Sales"),),
        )
    ]


def test_a_department_under_a_new_parent_is_moved_with_the_parent_id_as_text() -> None:
    held = department_snapshot(EMEA, 1)
    (move,) = department_ops(EMEA, dept_id=9, parent_id=7, held=held)
    assert (move.kind, move.ident, move.changes) == (
        Kind.MOVE,
        "9",
        (FieldChange("parent_id", 1, "7"),),
    )


def test_the_snapshot_keeps_the_specs_digest_so_new_rules_are_recorded_again() -> None:
    want = department_snapshot(SALES, 1)
    assert want == {
        "name": "Sales",
        "parent_id": 1,
        "source_identifier": "scim:group:s",
        "order": None,
        PROJECTION: snapshot_hash(SALES.snapshot()),
    }
    assert not must_record_department([], want, want)
    assert must_record_department([], {**want, PROJECTION: "older rules"}, want)


def test_a_department_is_deleted_by_its_id_and_last_name() -> None:
    assert delete_department("group:s", 7, "Sales") == Operation(
        Kind.DELETE, Target.DEPARTMENT, "group:s", "7", "Sales"
    )


# --- one role ---------------------------------------------------------------------------------


def test_a_role_without_a_link_is_created_in_its_role_group() -> None:
    (create,) = role_ops(OWNERS, role_id=None, held_name=None)
    assert (create.kind, create.target, create.ident) == (Kind.CREATE, Target.ROLE, "new:group:o")
    assert create.values == {"roleName": "Owners", "group": "SCIM"}


def test_a_linked_role_is_renamed_when_its_group_was_renamed() -> None:
    assert role_ops(OWNERS, role_id=42, held_name="Admins") == [
        Operation(
            Kind.UPDATE,
            Target.ROLE,
            "group:o",
            "42",
            "Owners",
            (FieldChange("roleName", "Admins", "Owners"),),
        )
    ]


def test_a_linked_role_with_its_name_needs_no_operation() -> None:
    assert role_ops(OWNERS, role_id=42, held_name="Owners") == []


def test_role_groups_are_keyed_by_name() -> None:
    assert role_group_key("SCIM") == "role-group:SCIM"
    assert new_id("group:o") == "new:group:o"


# --- the whole directory (plan) ------------------------------------------------------------


def test_parents_come_before_their_children_whatever_the_key_order() -> None:
    child = DepartmentSpec("a:child", "Child", "z:parent", "c")
    parent = DepartmentSpec("z:parent", "Parent", "root", "p")
    assert parents_first({"a:child": child, "z:parent": parent}) == ["z:parent", "a:child"]


def test_a_new_child_of_a_new_parent_names_the_parents_placeholder() -> None:
    ops, ids, deletes = plan_departments({"group:s": SALES, "group:e": EMEA}, {}, {})
    assert [(op.kind, op.key, op.values["parent_id"]) for op in ops] == [
        (Kind.CREATE, "group:s", "1"),
        (Kind.CREATE, "group:e", "new:group:s"),
    ]
    assert ids == {"root": "1", "group:s": "new:group:s", "group:e": "new:group:e"}
    assert deletes == []


def test_an_unlinked_department_with_our_source_identifier_is_adopted_not_created() -> None:
    held = {5: {"name": "Sales", "parent_id": 1, "source_identifier": "scim:group:s"}}
    ops, ids, _ = plan_departments({"group:s": SALES}, held, {})
    assert ops == [
        Operation(
            Kind.LINK,
            Target.DEPARTMENT,
            "group:s",
            "5",
            "Sales",
            reason="same source_identifier",
        )
    ]
    assert ids["group:s"] == "5"


def test_renames_are_listed_before_moves() -> None:
    held = {
        7: {"name": "Sales", "parent_id": 1, "source_identifier": "scim:group:s"},
        9: {"name": "Old", "parent_id": 1, "source_identifier": "scim:group:e"},
        3: {"name": "Ops", "parent_id": 1, "source_identifier": "scim:group:o"},
    }
    ops_dept = DepartmentSpec("group:o", "Operations", "root", "scim:group:o")
    wanted = {"group:s": SALES, "group:e": EMEA, "group:o": ops_dept}
    links = {"group:s": 7, "group:e": 9, "group:o": 3}
    ops, _, _ = plan_departments(wanted, held, links)
    # Parents first (group:o and group:s, then group:e), every rename before any move.
    assert [(op.kind, op.key) for op in ops] == [
        (Kind.UPDATE, "group:o"),
        (Kind.UPDATE, "group:e"),
        (Kind.MOVE, "group:e"),
    ]


def test_linked_departments_no_longer_wanted_are_deleted_deepest_first() -> None:
    held = {
        7: {"name": "Sales", "parent_id": 1, "source_identifier": "scim:group:s"},
        9: {"name": "EMEA", "parent_id": 7, "source_identifier": "scim:group:e"},
    }
    _, _, deletes = plan_departments({}, held, {"group:s": 7, "group:e": 9, "root": 1})
    assert [(op.kind, op.key, op.ident, op.name) for op in deletes] == [
        (Kind.DELETE, "group:e", "9", "EMEA"),
        (Kind.DELETE, "group:s", "7", "Sales"),
    ]


def test_plan_roles_creates_and_renames_and_leaves_roles_no_group_stands_for() -> None:
    admins = RoleSpec("group:a", "Admins", "SCIM")
    ops, ids = plan_roles(
        {"group:o": OWNERS, "group:a": admins},
        {"group:o": 42, "group:gone": 43},
        {"group:o": "Old owners", "group:gone": "Gone"},
    )
    assert [(op.kind, op.key, op.ident) for op in ops] == [
        (Kind.CREATE, "group:a", "new:group:a"),
        (Kind.UPDATE, "group:o", "42"),
    ]
    assert ids == {"group:a": "new:group:a", "group:o": "42"}
    # The translator never deletes a role (the client cannot): nor does the plan list one.
