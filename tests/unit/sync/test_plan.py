"""The dry-run plan: desired projection vs DingTalk's current state, call by call."""

from __future__ import annotations

import json
from typing import Any

from scim_bridge.mapping import parse_rules, project_directory
from scim_bridge.mapping.model import DepartmentSpec, Projection, UserProjection
from scim_bridge.sync.plan import CurrentState, plan
from scim_bridge.sync.plan_render import operation_dict, render_plan

RULES = parse_rules(
    """\
version: 1
users:
  manager: enterprise:manager.value
  fields:
    name: displayName
    mobile: {from: phoneNumbers.value, transform: mobile}
    email: emails.value
    title: title
policies:
  link: {by: [mobile, email], on_conflict: skip}
"""
)
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def person(uid: str, mobile: str, **extra: Any) -> dict[str, Any]:
    user = {
        "id": uid,
        "userName": uid,
        "displayName": uid.upper(),
        "active": True,
        "phoneNumbers": [{"value": mobile}],
    }
    user.update(extra)
    return user


def steps(result: Any) -> list[tuple[str, str, str]]:
    return [(s.kind, s.target, s.key) for s in result.steps]


NESTED = """\
version: 1
users:
  manager: enterprise:manager.value
  fields:
    name: displayName
    mobile: {from: phoneNumbers.value, transform: mobile}
departments:
  groups: {nesting: separator}
"""


def test_empty_dingtalk_creates_departments_parent_first_then_managers_before_reports() -> None:
    rules = parse_rules(NESTED)
    users = [
        person("u2", "13900000002", **{ENT: {"manager": {"value": "u1"}}}),
        person("u1", "13900000001"),
    ]
    groups = [{"id": "g1", "displayName": "Acme/Sales", "members": [{"value": "u2"}]}]
    result = plan(project_directory(users, groups, rules), CurrentState())
    assert steps(result) == [
        ("create", "department", "path:Acme"),
        ("create", "department", "group:g1"),
        ("create", "user", "u1"),
        ("create", "user", "u2"),
    ]
    create_u2 = result.steps[3]
    assert {c.field: c.new for c in create_u2.changes} == {
        "name": "U2",
        "mobile": "13900000002",
        "dept_id_list": ["new:group:g1"],
        "manager_userid": "u1",
    }
    assert result.steps[1].changes[1].new == "new:path:Acme"
    assert result.totals == {
        "department": {"create": 2},
        "role": {},
        "user": {"create": 2},
        "calls": 4,
    }


def test_existing_user_gets_a_field_by_field_update_and_a_move() -> None:
    users = [person("u1", "13900000001", title="CTO")]
    groups = [{"id": "g1", "displayName": "Eng", "members": [{"value": "u1"}]}]
    current = CurrentState(
        users={
            "u1": {
                "name": "U1",
                "mobile": "13900000001",
                "title": "Engineer",
                "email": "old@acme.cn",
                "dept_id_list": [1],
            }
        },
        departments={7: {"name": "Eng", "parent_id": 1, "source_identifier": "group:g1"}},
        dept_links={"group:g1": 7},
        user_links={"u1": "u1"},
    )
    result = plan(project_directory(users, groups, RULES), current)
    assert [operation_dict(s) for s in result.steps] == [
        {
            "kind": "update",
            "target": "user",
            "key": "u1",
            "id": "u1",
            "name": "U1",
            "api": "/topapi/v2/user/update",
            "changes": [
                # Cleared as the translator clears it: "" (DingTalk ignores an omitted key).
                {"field": "email", "old": "old@acme.cn", "new": ""},
                {"field": "title", "old": "Engineer", "new": "CTO"},
            ],
        },
        {
            "kind": "move",
            "target": "user",
            "key": "u1",
            "id": "u1",
            "name": "U1",
            "api": "/topapi/v2/user/update",
            "changes": [{"field": "dept_id_list", "old": ["1"], "new": ["7"]}],
        },
    ]


def test_converged_state_needs_no_calls() -> None:
    users = [person("u1", "13900000001")]
    current = CurrentState(
        users={
            "u1": {"name": "U1", "mobile": "13900000001", "dept_id_list": [1], "hide_mobile": False}
        },
        user_links={"u1": "u1"},
    )
    result = plan(project_directory(users, [], RULES), current)
    assert result.steps == ()
    assert "Nothing to do" in render_plan(result, "table")


def test_leavers_and_scim_deletions_are_deleted_users_then_departments_bottom_up() -> None:
    users = [person("u1", "13900000001", active=False)]
    current = CurrentState(
        users={
            "u1": {"name": "U1", "dept_id_list": [8]},
            "u9": {"name": "Gone", "dept_id_list": [8]},
        },
        departments={7: {"name": "Acme", "parent_id": 1}, 8: {"name": "Sales", "parent_id": 7}},
        dept_links={"path:Acme": 7, "group:old": 8},
        user_links={"u1": "u1", "u9": "u9"},
    )
    result = plan(project_directory(users, [], RULES), current)
    assert [(s.kind, s.target, s.ident) for s in result.steps] == [
        ("delete", "user", "u1"),
        ("delete", "user", "u9"),
        ("delete", "department", "8"),
        ("delete", "department", "7"),
    ]
    assert result.steps[1].reason == "deleted in the IdP"


def test_people_already_in_dingtalk_are_linked_not_duplicated() -> None:
    users = [person("u1", "+86 139 0000 0001")]
    current = CurrentState(
        users={"manager_zhang": {"name": "U1", "mobile": "13900000001", "dept_id_list": [1]}}
    )
    result = plan(project_directory(users, [], RULES), current)
    assert [(s.kind, s.ident, s.reason) for s in result.steps] == [
        ("link", "manager_zhang", "matched by mobile")
    ]


def test_link_conflicts_follow_the_policy() -> None:
    users = [person("u1", "13900000001", emails=[{"value": "a@acme.cn"}])]
    current = CurrentState(
        users={
            "x": {"mobile": "13900000001", "name": "X"},
            "y": {"email": "A@acme.cn", "name": "Y"},
        }
    )
    skipped = plan(project_directory(users, [], RULES), current)
    assert [(s.kind, s.target) for s in skipped.steps] == [("conflict", "user")]
    assert "matches several DingTalk people (mobile -> x; email -> y)" in skipped.steps[0].reason
    first = parse_rules(RULES_TEXT_FIRST)
    linked = plan(project_directory(users, [], first), current)
    assert (linked.steps[0].kind, linked.steps[0].ident) == ("link", "x")


RULES_TEXT_FIRST = """\
version: 1
users:
  fields:
    name: displayName
    mobile: {from: phoneNumbers.value, transform: mobile}
    email: emails.value
policies:
  link: {by: [mobile, email], on_conflict: first}
"""


def user_steps(result: Any) -> list[tuple[str, str, str]]:
    return [(s.kind, s.key, s.ident) for s in result.steps if s.target == "user"]


def test_plan_gives_a_repeated_externalid_a_userid_of_its_own_as_the_translator_does() -> None:
    users = [
        person("a", "13900000001", externalId="jdoe"),
        person("b", "13900000002", externalId="jdoe"),
    ]
    result = plan(project_directory(users, [], RULES), CurrentState())
    assert user_steps(result) == [("create", "a", "jdoe"), ("create", "b", "jdoe_04a68160")]


def test_plan_never_links_a_userid_another_scim_user_holds() -> None:
    users = [
        person("a", "13900000001", externalId="jdoe"),
        person("b", "13900000002", externalId="jdoe"),
    ]
    current = CurrentState(
        users={"jdoe": {"name": "A", "mobile": "13900000001", "dept_id_list": [1]}},
        user_links={"a": "jdoe"},
    )
    result = plan(project_directory(users, [], RULES), current)
    assert user_steps(result) == [("create", "b", "jdoe_04a68160")]


def test_plan_derives_jdoe_space_1_apart_from_an_existing_jdoe_1() -> None:
    users = [person("m", "13900000002", externalId="jdoe 1")]
    current = CurrentState(users={"jdoe_1": {"name": "V", "mobile": "13900000001"}})
    result = plan(project_directory(users, [], RULES), current)
    assert user_steps(result) == [("create", "m", "jdoe_1_825c02c9")]


def test_renamed_or_moved_departments_are_updated_in_place() -> None:
    desired = Projection(
        departments={
            "a": DepartmentSpec("a", "Alpha", None, "a"),
            "b": DepartmentSpec("b", "Beta", "a", "b"),
        },
        users={},
        roles={},
    )
    current = CurrentState(
        departments={
            5: {"name": "Alfa", "parent_id": 1, "source_identifier": "a"},
            6: {"name": "Beta", "parent_id": 1, "source_identifier": "b"},
        },
        dept_links={"a": 5, "b": 6},
    )
    result = plan(desired, current)
    assert [
        (s.kind, s.key, [(c.field, c.old, c.new) for c in s.changes]) for s in result.steps
    ] == [
        ("update", "a", [("name", "Alfa", "Alpha")]),
        ("move", "b", [("parent_id", 1, "5")]),
    ]


def test_unlinked_department_with_our_source_identifier_is_adopted() -> None:
    desired = Projection(
        departments={"a": DepartmentSpec("a", "Alpha", None, "a")}, users={}, roles={}
    )
    current = CurrentState(
        departments={5: {"name": "Alpha", "parent_id": 1, "source_identifier": "a"}}
    )
    result = plan(desired, current)
    assert [(s.kind, s.ident) for s in result.steps] == [("link", "5")]


def test_manager_cycles_are_created_first_and_closed_by_an_update() -> None:
    users = [
        person("a", "13900000001", **{ENT: {"manager": {"value": "b"}}}),
        person("b", "13900000002", **{ENT: {"manager": {"value": "a"}}}),
    ]
    result = plan(project_directory(users, [], RULES), CurrentState())
    assert [(s.kind, s.key) for s in result.steps] == [
        ("create", "b"),
        ("create", "a"),
        ("update", "b"),
    ]
    assert result.steps[2].changes[0].new == "a"


def test_plan_renders_as_json_and_table() -> None:
    user = UserProjection(
        "u1", "upsert", "u1", {"name": "Ann", "mobile": "13900000001"}, ("root",), None, (), (), ()
    )
    desired = Projection(departments={}, users={"u1": user}, roles={})
    result = plan(desired, CurrentState())
    data = json.loads(render_plan(result, "json"))
    assert data["totals"] == {"department": {}, "role": {}, "user": {"create": 1}, "calls": 1}
    assert data["steps"][0]["changes"][-1] == {"field": "dept_id_list", "old": None, "new": ["1"]}
    table = render_plan(result, "table")
    assert "create   user       u1" in table
    assert 'mobile: "13900000001"' in table
    assert "user       create          1" in table


def test_department_ids_read_back_as_text_are_accepted() -> None:
    desired = Projection(
        departments={"a": DepartmentSpec("a", "Alpha", None, "a")}, users={}, roles={}
    )
    current = CurrentState(
        departments={"5": {"name": "Alpha", "parent_id": "1", "source_identifier": "a"}},  # type: ignore[dict-item]
        dept_links={"a": "5"},  # type: ignore[dict-item]
    )
    assert plan(desired, current).steps == ()
