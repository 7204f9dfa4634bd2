"""The data-quality report: each check with literal directories."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from scim_bridge.mapping import parse_rules, quality_report, render_quality

RULES_TEXT = """\
version: 1
users:
  manager: enterprise:manager.value
  fields:
    name: displayName
    mobile: {from: phoneNumbers.value, transform: mobile}
    email: emails.value
departments:
  default: Unassigned
"""
RULES = parse_rules(RULES_TEXT)
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SALES = {"id": "g1", "displayName": "Sales", "members": []}


def person(uid: str, mobile: str | None = None, **extra: Any) -> dict[str, Any]:
    user: dict[str, Any] = {
        "id": uid,
        "userName": f"{uid}@acme.cn",
        "displayName": uid,
        "active": True,
        "groups": [{"value": "g1"}],
    }
    if mobile is not None:
        user["phoneNumbers"] = [{"value": mobile}]
    user.update(extra)
    return user


def found(users: list[dict[str, Any]], groups: list[dict[str, Any]] | None = None, rules=RULES):
    report = quality_report(users, [SALES] if groups is None else groups, rules)
    return {(f.check, f.subject) for f in report.findings}, report


def test_clean_directory_has_no_findings() -> None:
    findings, report = found([person("a", "13900000001"), person("b", "13900000002")])
    assert findings == set()
    assert not report.blocking
    assert report.counts == {}


def test_missing_and_invalid_mobiles_block() -> None:
    findings, report = found([person("a"), person("b", "0000")])
    assert findings == {("mobile_missing", "a"), ("mobile_invalid", "b")}
    assert report.blocking


def test_duplicate_mobiles_and_emails_after_normalisation_block() -> None:
    users = [
        person("a", "+86 139 0000 0001", emails=[{"value": "X@acme.cn"}]),
        person("b", "139-0000-0001", emails=[{"value": "x@acme.cn"}]),
        person("c", "13900000003"),
    ]
    findings, report = found(users)
    assert findings == {
        ("mobile_duplicate", "a"),
        ("mobile_duplicate", "b"),
        ("email_duplicate", "a"),
        ("email_duplicate", "b"),
    }
    assert report.of("mobile_duplicate")[0].detail == "13900000001 is also used by b"


def test_leavers_do_not_count_as_duplicates() -> None:
    findings, _ = found([person("a", "13900000001"), person("b", "13900000001", active=False)])
    assert findings == set()


def test_long_names_warn_and_missing_names_block() -> None:
    nameless = person("b", "13900000002")
    del nameless["displayName"]
    findings, report = found([person("a", "13900000001", displayName="N" * 81), nameless])
    assert findings == {("name_over_limit", "a"), ("name_missing", "b")}
    assert [f.severity for f in report.findings] == ["blocking", "warning"]


def test_people_with_no_department_are_listed() -> None:
    findings, report = found([person("a", "13900000001", groups=[])])
    assert findings == {("no_department", "a")}
    assert not report.blocking


def test_manager_cycles_block_and_out_of_scope_managers_warn() -> None:
    users = [
        person("a", "13900000001", **{ENT: {"manager": {"value": "b"}}}),
        person("b", "13900000002", **{ENT: {"manager": {"value": "c"}}}),
        person("c", "13900000003", **{ENT: {"manager": {"value": "a"}}}),
        person("d", "13900000004", **{ENT: {"manager": {"value": "a"}}}),
        person("e", "13900000005", **{ENT: {"manager": {"value": "ghost"}}}),
    ]
    findings, report = found(users)
    assert findings == {
        ("manager_cycle", "a"),
        ("manager_cycle", "b"),
        ("manager_cycle", "c"),
        ("manager_out_of_scope", "e"),
    }
    assert report.of("manager_cycle")[0].detail == "a -> b -> c -> a"


def test_users_the_scope_filter_drops_are_listed() -> None:
    rules = parse_rules(RULES_TEXT + "policies: {scope: {filter: 'userType eq \"Employee\"'}}\n")
    users = [person("a", "13900000001", userType="Employee"), person("b", "13900000002")]
    findings, report = found(users, rules=rules)
    assert findings == {("scope_dropped", "b")}
    assert not report.blocking


def test_department_names_that_clash_or_change_are_reported() -> None:
    groups = [
        {"id": "g1", "displayName": "Sales", "members": []},
        {"id": "g2", "displayName": "sales", "members": []},
        {"id": "g3", "displayName": "R-D", "members": []},
    ]
    findings, report = found([], groups)
    assert findings == {
        ("department_name_clash", "group:g1"),
        ("department_name_clash", "group:g2"),
        ("department_name", "group:g3"),
    }
    assert report.blocking


def test_progress_is_reported_up_to_the_total() -> None:
    calls: list[tuple[int, int]] = []
    users = [person(f"u{i}", f"139{i:08d}") for i in range(250)]
    quality_report(users, [SALES], RULES, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (250, 250)
    assert len(calls) >= 100
    assert all(t == 250 for _, t in calls)


def test_report_renders_as_table_csv_and_json() -> None:
    _, report = found([person("a"), person("b", "13900000002")])
    table = render_quality(report, "table")
    assert "mobile_missing           blocking       1" in table
    assert "Blocking problems found" in table
    rows = list(csv.reader(io.StringIO(render_quality(report, "csv"))))
    assert rows == [
        ["check", "severity", "id", "name", "detail"],
        ["mobile_missing", "blocking", "a", "a@acme.cn", "no mobile number found"],
    ]
    data = json.loads(render_quality(report, "json"))
    assert data["blocking"] is True
    assert data["counts"] == {"mobile_missing": 1}
    assert data["users_checked"] == 2
