"""Pure parts of the console (issue 13): the sandbox tree, the sparkline, the sample company."""

from __future__ import annotations

from scim_bridge.cli.demo_company import make_company, user_document
from scim_bridge.http.admin import safe_next
from scim_bridge.http.admin_pages import department_tree
from scim_bridge.monitor.overview import sparkline_points


def test_the_tree_puts_departments_under_their_parents_and_people_in_each_department() -> None:
    state = {
        "departments": [
            {"dept_id": 1, "name": "Acme", "parent_id": 0},
            {"dept_id": 3, "name": "Sales", "parent_id": 1},
            {"dept_id": 2, "name": "Engineering", "parent_id": 1},
            {"dept_id": 4, "name": "Platform", "parent_id": 2},
        ],
        "users": [
            {"userid": "b", "name": "Boss", "dept_id_list": [1]},
            {"userid": "d", "name": "Dev", "dept_id_list": [4, 3], "manager_userid": "b"},
        ],
    }
    root = department_tree(state)
    assert root is not None and root.name == "Acme"
    assert [c.name for c in root.children] == ["Engineering", "Sales"]
    platform = root.children[0].children[0]
    assert platform.name == "Platform"
    assert platform.people == [{"name": "Dev", "userid": "d", "title": "", "manager": "Boss"}]
    assert [p["name"] for p in root.children[1].people] == ["Dev"]  # in two departments


def test_an_empty_emulator_has_no_tree() -> None:
    assert department_tree({}) is None


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
