"""plan and quality on the 500-person sample directory (tests/data/sample_directory.json).

Expectations are derived from the generator's declared facts and from the raw SCIM data, not
from the engine's output.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scim_bridge.mapping import (
    load_rules,
    parse_rules,
    project_directory,
    quality_report,
    render_quality,
)
from scim_bridge.mapping.rules import default_rules_path
from scim_bridge.sync.plan import CurrentState, plan
from scim_bridge.sync.plan_render import render_plan

DATA = Path(__file__).parents[2] / "data" / "sample_directory.json"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


@pytest.fixture(scope="module")
def sample() -> dict[str, Any]:
    return json.loads(DATA.read_text(encoding="utf-8"))


def flat(pairs: list[list[str]]) -> set[str]:
    return {i for pair in pairs for i in pair}


def manager_of(user: dict[str, Any]) -> str | None:
    return ((user.get(ENT) or {}).get("manager") or {}).get("value")


def test_the_sample_is_what_the_issue_asks_for(sample: dict[str, Any]) -> None:
    declared = sample["declared"]
    assert len(sample["users"]) == declared["people"] == 500
    assert len(sample["groups"]) == 15
    assert len(declared["subsidiaries"]) == 2
    assert declared["contractors"] and declared["partners"]
    assert sum(1 for u in sample["users"] if manager_of(u)) > 400


def test_plan_against_an_empty_dingtalk_creates_everything(sample: dict[str, Any]) -> None:
    users, groups, declared = sample["users"], sample["groups"], sample["declared"]
    projection = project_directory(users, groups, load_rules(default_rules_path()))
    result = plan(projection, CurrentState())

    active = {u["id"]: u for u in users if u["active"]}
    cycles = len(declared["bad"]["manager_cycle"])
    assert result.totals == {
        "department": {"create": len(declared["groups"])},
        "role": {},
        "user": {"create": len(active), "update": cycles},
        "calls": len(declared["groups"]) + len(active) + cycles,
    }
    # Departments come first, then users; nothing is deleted against an empty DingTalk.
    kinds = [(s.target, s.kind) for s in result.steps]
    assert kinds[: len(declared["groups"])] == [("department", "create")] * len(declared["groups"])
    assert not any(kind == "delete" for _, kind in kinds)

    creates = {s.key: s for s in result.steps if s.target == "user" and s.kind == "create"}
    assert set(creates) == set(active)
    for scim_id, step in creates.items():
        user = active[scim_id]
        assert step.ident == user.get("externalId", scim_id)
        fields = {c.field: c.new for c in step.changes}
        if not user["groups"]:
            assert fields["dept_id_list"] == ["1"]
        else:
            assert len(fields["dept_id_list"]) == len(user["groups"])
    # Every in-scope manager is set, at creation or (to close a cycle) by an update right after.
    expected_managers = {
        uid for uid, u in active.items() if manager_of(u) in active and manager_of(u) != uid
    }
    set_managers = {
        s.key
        for s in result.steps
        if s.target == "user" and any(c.field == "manager_userid" for c in s.changes)
    }
    assert set_managers == expected_managers
    assert expected_managers.isdisjoint(declared["bad"]["manager_out_of_scope"])

    table = render_plan(result, "table")
    assert f"{'user':<10} {'create':<8} {len(active):>8}" in table
    assert json.loads(render_plan(result, "json"))["totals"] == result.totals


def test_quality_finds_exactly_the_planted_records(sample: dict[str, Any]) -> None:
    declared, bad = sample["declared"], sample["declared"]["bad"]
    report = quality_report(sample["users"], sample["groups"], load_rules(default_rules_path()))
    renamed = {
        f"group:{g['id']}" for g in sample["groups"] if any(ch in g["displayName"] for ch in "-,，")
    }
    expected = {
        "mobile_invalid": set(bad["invalid_mobile"]),
        "mobile_missing": set(bad["missing_mobile"]),
        "mobile_duplicate": flat(bad["duplicate_mobile"]),
        "email_duplicate": flat(bad["duplicate_email"]),
        "name_over_limit": set(bad["long_name"]),
        "manager_cycle": flat(bad["manager_cycle"]),
        "manager_out_of_scope": set(bad["manager_out_of_scope"]),
        "no_department": set(declared["no_group"]),
        "department_name": renamed,
    }
    found = {check: {f.subject for f in report.of(check)} for check in report.counts}
    assert found == expected
    assert report.counts == {check: len(ids) for check, ids in expected.items() if ids}
    assert report.blocking
    assert report.users_checked == 500
    assert "Blocking problems found" in render_quality(report, "table")


POLICIES = """\
version: 1
users:
  manager: enterprise:manager.value
  fields:
    name: {from: [displayName], template: "{{ name.givenName }} {{ name.familyName }}"}
    mobile: {from: 'phoneNumbers[type eq "mobile"].value', transform: mobile}
    email: 'emails[type eq "work"].value'
policies:
  scope: {filter: 'not (userType eq "Contractor")'}
  partners: {enabled: true, user_types: [Partner], department: Partners}
  subsidiaries: {enabled: true, primary: [Acme Group], label: prefix}
"""


def test_plan_and_quality_with_subsidiaries_partners_and_a_scope_filter(
    sample: dict[str, Any],
) -> None:
    users, groups, declared = sample["users"], sample["groups"], sample["declared"]
    rules = parse_rules(POLICIES)
    result = plan(project_directory(users, groups, rules), CurrentState())

    contractors, partners = set(declared["contractors"]), set(declared["partners"])
    org_of = {uid: org for org, ids in declared["subsidiaries"].items() for uid in ids}
    projected = [u for u in users if u["active"] and u["id"] not in contractors]
    expected_departments = {f"group:{g['id']}" for g in groups}
    for user in projected:
        tree = (
            "partners"
            if user["id"] in partners
            else (f"sub:{org_of[user['id']]}" if user["id"] in org_of else None)
        )
        if tree is None:
            continue
        expected_departments.add(tree)
        expected_departments.update(f"{tree}>group:{g['value']}" for g in user["groups"])
    creates = {s.key for s in result.steps if s.target == "department" and s.kind == "create"}
    assert creates == expected_departments
    assert result.count("user", "create") == len(projected)

    report = quality_report(users, groups, rules)
    assert {f.subject for f in report.of("scope_dropped")} == {
        u["id"] for u in users if u["id"] in contractors
    }
