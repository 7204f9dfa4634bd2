"""Mapping policies in the running translator: the mass-change guard, a strategy switch."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from scim_bridge.dingtalk.emulator import RunningEmulator
from scim_bridge.directory.db import Database
from scim_bridge.mapping.rules import default_rules_path, parse_rules
from scim_bridge.sync import guard
from scim_bridge.sync.worker import Worker

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
_mobiles = itertools.count(13700000000)


def person(i: int, department: str) -> dict[str, Any]:
    return {
        "userName": f"u{i}@example.com",
        "externalId": f"u{i}",
        "displayName": f"User {i}",
        "phoneNumbers": [{"value": str(next(_mobiles)), "type": "mobile"}],
        ENTERPRISE: {"department": department},
    }


def test_guard_holds_a_60_percent_deactivation_burst_until_confirmed(
    scim: Any, worker: Worker, emulator: RunningEmulator, database: Database
) -> None:
    ids = [scim.post("/Users", person(i, "Ops")).json["id"] for i in range(30)]
    worker.run_until_idle()
    assert len(emulator.emulator.users()) == 30
    for uid in ids[:18]:  # 60% of the people leave at once
        scim.patch(
            f"/Users/{uid}",
            {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": False}}]},
        )
    worker.run_until_idle()
    assert len(emulator.emulator.users()) == 30  # nobody was deleted
    with database.read() as session:
        pause = guard.paused(session)
    assert pause is not None and pause["removals"] == 18 and pause["active_users"] == 30
    with database.write() as session:
        released = guard.confirm_burst(
            session,
            worker.translator.rules.guard,
            pause["token"],
            now=datetime.now(UTC),
            actor="ops",
        )
    assert released == 18
    worker.run_until_idle()
    assert len(emulator.emulator.users()) == 12
    with database.read() as session:
        assert guard.paused(session) is None


def test_a_few_leavers_pass_the_guard(scim: Any, worker: Worker, emulator: RunningEmulator) -> None:
    ids = [scim.post("/Users", person(i, "Ops")).json["id"] for i in range(30)]
    worker.run_until_idle()
    for uid in ids[:3]:
        scim.delete(f"/Users/{uid}")
    worker.run_until_idle()
    assert len(emulator.emulator.users()) == 27


def test_switching_department_strategy_moves_everyone_without_leaving_anyone_out(
    scim: Any, worker: Worker, emulator: RunningEmulator
) -> None:
    group = scim.post("/Groups", {"displayName": "Everyone"}).json["id"]
    ids = [
        scim.post("/Users", person(i, "Sales" if i % 2 else "Support")).json["id"]
        for i in range(10)
    ]
    scim.patch(
        f"/Groups/{group}",
        {
            "schemas": [PATCH],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": u} for u in ids]}],
        },
    )
    worker.run_until_idle()
    names = {d: v["name"] for d, v in emulator.emulator.departments().items()}
    assert {names[u["dept_id_list"][0]] for u in emulator.emulator.users().values()} == {"Everyone"}

    text = (
        default_rules_path()
        .read_text(encoding="utf-8")
        .replace(
            "  strategy: groups ",
            "  strategy: attributes\n  attributes: [enterprise:department]\n  #",
        )
    )
    worker.translator.rules = parse_rules(text, source="switched.yaml")
    worker.reproject()
    worker.run_until_idle()
    users = emulator.emulator.users()
    names = {d: v["name"] for d, v in emulator.emulator.departments().items()}
    placed = {u["userid"]: sorted(names[d] for d in u["dept_id_list"]) for u in users.values()}
    assert placed == {f"u{i}": ["Sales" if i % 2 else "Support"] for i in range(10)}
    assert "Everyone" not in names.values()  # the group's department went once it was empty
    # Every move replaced the department list in one successful call: the emulator refuses an
    # empty list (40066), and deleting "Everyone" while anyone was in it would fail (60005).
    calls = emulator.emulator.calls()
    updates = [c for c in calls if c["api"] == "/topapi/v2/user/update"]
    assert len(updates) == 10
    assert all(c["outcome"].get("errcode") == 0 for c in updates)
    delete_at = next(c["seq"] for c in calls if c["api"] == "/topapi/v2/department/delete")
    assert delete_at > max(c["seq"] for c in updates)


def test_groups_as_roles_are_given_and_taken_back(
    scim: Any, worker: Worker, emulator: RunningEmulator
) -> None:
    text = default_rules_path().read_text(encoding="utf-8")
    worker.translator.rules = parse_rules(
        text.replace("roles:\n  enabled: false", "roles:\n  enabled: true"), source="roles.yaml"
    )
    admins = scim.post("/Groups", {"displayName": "Admins"}).json["id"]
    ann = scim.post("/Users", person(1, "Ops")).json["id"]
    ben = scim.post("/Users", person(2, "Ops")).json["id"]
    scim.patch(
        f"/Groups/{admins}",
        {
            "schemas": [PATCH],
            "Operations": [
                {"op": "add", "path": "members", "value": [{"value": ann}, {"value": ben}]}
            ],
        },
    )
    worker.run_until_idle()

    def holders() -> set[str]:
        roles = emulator.emulator.snapshot()["roles"]
        return {u for r in roles if r["name"] == "Admins" for u in r["userids"]}

    assert holders() == {"u1", "u2"}
    groups_named_scim = [
        g for g in emulator.emulator.snapshot()["role_groups"] if g["name"] == "SCIM"
    ]
    assert len(groups_named_scim) == 1
    scim.patch(
        f"/Groups/{admins}",
        {
            "schemas": [PATCH],
            "Operations": [{"op": "remove", "path": f'members[value eq "{ben}"]'}],
        },
    )
    worker.run_until_idle()
    assert holders() == {"u1"}
    scim.patch(
        f"/Groups/{admins}",
        {
            "schemas": [PATCH],
            "Operations": [{"op": "replace", "path": "displayName", "value": "Owners"}],
        },
    )
    worker.run_until_idle()
    assert {r["name"] for r in emulator.emulator.snapshot()["roles"] if "u1" in r["userids"]} == {
        "Owners"
    }
