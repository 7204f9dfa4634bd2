"""Pure parts of the console (issue 13): the sandbox tree, the sparkline, the sample company."""

from __future__ import annotations

import pytest

from scim_bridge.cli.demo_company import make_company, user_document
from scim_bridge.dingtalk.emulator.sandbox_model import SandboxDepartment, SandboxTree
from scim_bridge.errors import BadRequest
from scim_bridge.http.admin import safe_next
from scim_bridge.http.sandbox_view import DrawnTree, SandboxQuery, arrange, sandbox_query, walk
from scim_bridge.monitor.overview import sparkline_points


def _tree(*departments: tuple[int, str, int, int]) -> SandboxTree:
    return SandboxTree(
        org_name="Acme",
        people=sum(d[3] for d in departments),
        departments=tuple(SandboxDepartment(*d) for d in departments),
    )


def test_the_tree_puts_departments_under_their_parents_and_opens_the_selected_branch() -> None:
    tree = _tree((1, "Acme", 0, 1), (3, "Sales", 1, 2), (2, "Engineering", 1, 0),
                 (4, "Platform", 2, 5), (5, "Infra", 4, 3))  # fmt: skip
    drawn = arrange(tree, selected=4)
    root = drawn.root
    assert root is not None and root.name == "Acme" and root.open
    assert [c.name for c in root.children] == ["Engineering", "Sales"]
    engineering, sales = root.children
    platform = engineering.children[0]
    assert drawn.selected is platform and platform.selected and platform.people == 5
    assert engineering.open and platform.open  # the way down to the selected one
    assert not sales.open and not platform.children[0].open  # the rest stays closed
    assert not root.selected and not engineering.selected


def test_the_walk_draws_every_department_once_with_each_list_closed() -> None:
    tree = _tree((1, "Acme", 0, 1), (3, "Sales", 1, 2), (2, "Engineering", 1, 0),
                 (4, "Platform", 2, 5), (5, "Infra", 4, 3))  # fmt: skip
    root = arrange(tree, selected=1).root
    assert root is not None
    steps = [(step, node.name) for step, node in walk(root)]
    assert steps == [
        ("open", "Acme"),
        ("open", "Engineering"),
        ("open", "Platform"),
        ("leaf", "Infra"),
        ("close", "Platform"),
        ("close", "Engineering"),
        ("leaf", "Sales"),
        ("close", "Acme"),
    ]
    lone = arrange(_tree((1, "Acme", 0, 0)), selected=1).root
    assert lone is not None and [s for s, _ in walk(lone)] == ["leaf"]


def test_an_unknown_selection_opens_only_the_root_and_no_root_no_tree() -> None:
    drawn = arrange(_tree((1, "Acme", 0, 0), (2, "Engineering", 1, 0)), selected=9)
    assert drawn.root is not None and drawn.root.open and drawn.selected is None
    assert not drawn.root.children[0].open
    assert arrange(_tree((2, "Orphan", 7, 0)), selected=1) == DrawnTree(None, None)


def test_a_parent_cycle_in_a_loaded_snapshot_does_not_spin() -> None:
    drawn = arrange(_tree((1, "Acme", 0, 0), (2, "A", 3, 0), (3, "B", 2, 0)), selected=2)
    assert drawn.root is not None and drawn.root.children == []
    assert drawn.selected is not None and drawn.selected.open


def test_the_sandbox_query_defaults_to_the_roots_first_page_and_names_a_bad_value() -> None:
    assert sandbox_query({}) == SandboxQuery(dept_id=1, page=1)
    assert sandbox_query({"dept": " 42 ", "page": "3"}) == SandboxQuery(dept_id=42, page=3)
    assert sandbox_query({"dept": "", "page": ""}) == SandboxQuery(dept_id=1, page=1)
    for args, name in (({"dept": "abc"}, "dept"), ({"dept": "0"}, "dept"),
                       ({"page": "-1"}, "page"), ({"page": "1.5"}, "page"),
                       ({"dept": "9" * 5000}, "dept"), ({"dept": str(2**31)}, "dept"),
                       ({"page": "\u00b2"}, "page")):  # fmt: skip
        with pytest.raises(BadRequest, match=f"^{name} must be"):
            sandbox_query(args)


def test_the_sparkline_puts_the_highest_value_at_the_top() -> None:
    assert sparkline_points([]) == ""
    assert (
        sparkline_points([0.0, 10.0, 5.0], width=100, height=40) == "0.0,40.0 50.0,0.0 100.0,20.0"
    )
    assert sparkline_points([0.0, 0.0], width=10, height=4) == "0.0,4.0 10.0,4.0"


def test_after_a_form_only_console_paths_are_followed() -> None:
    assert safe_next("/admin/sandbox") == "/admin/sandbox"
    for bad in (None, "", "https://evil.example/", "//evil.example", "/admin//evil", "/scim/v2"):
        assert safe_next(bad) == "/admin/"


def test_the_company_has_managers_before_their_reports() -> None:
    company = make_company(60)
    seen: set[str] = set()
    for person in company.people:
        assert person.manager_key is None or person.manager_key in seen
        seen.add(person.key)
    assert sum(p.manager_key is None for p in company.people) == 1  # the CEO
    doc = user_document(company.people[1], manager_id="ceo-id")
    enterprise = doc["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]
    assert enterprise["manager"] == {"value": "ceo-id"}
    assert doc["phoneNumbers"][0]["type"] == "mobile"
