"""Issue 11, acceptance 2 (explain's half): one person created, moved, blocked, fixed, synced."""

from __future__ import annotations

from typing import Any

from explain_support import PATCH, person, replace

from scim_bridge.dingtalk.emulator import RunningEmulator
from scim_bridge.monitor.verdict import VerdictKind


def members(op: str, user_id: str) -> dict[str, Any]:
    path = "members" if op == "add" else f'members[value eq "{user_id}"]'
    value = [{"value": user_id}] if op == "add" else None
    operation = {"op": op, "path": path, **({"value": value} if value else {})}
    return {"schemas": [PATCH], "Operations": [operation]}


def test_a_person_created_moved_blocked_by_a_missing_mobile_fixed_and_synced(
    scim: Any, sync: Any, explained: Any, emulator: RunningEmulator
) -> None:
    sales = scim.post("/Groups", {"displayName": "Sales", "members": []}).json
    support = scim.post("/Groups", {"displayName": "Support", "members": []}).json
    nora = scim.post("/Users", person("nora", title="Rep")).json
    scim.patch(f"/Groups/{sales['id']}", members("add", nora["id"]))
    sync()
    created = explained("nora")
    assert created.verdict.kind is VerdictKind.UP_TO_DATE
    assert created.mapping.departments == ("Sales",)

    scim.patch(f"/Groups/{sales['id']}", members("remove", nora["id"]))
    scim.patch(f"/Groups/{support['id']}", members("add", nora["id"]))
    sync()
    moved = explained("nora")
    assert moved.verdict.kind is VerdictKind.UP_TO_DATE
    assert moved.mapping.departments == ("Support",)
    support_id = next(
        dept_id for dept_id, d in emulator.emulator.departments().items() if d["name"] == "Support"
    )
    assert moved.dingtalk.holds is not None
    assert [int(d) for d in moved.dingtalk.holds["dept_id_list"]] == [support_id]

    # The IdP drops the mobile: DingTalk keeps the old number, and nothing the bridge
    # can do clears it; the IdP must send one again.
    scim.patch(
        f"/Users/{nora['id']}",
        {"schemas": [PATCH], "Operations": [{"op": "remove", "path": "phoneNumbers"}]},
    )
    sync()
    blocked = explained("nora@example.com")
    assert blocked.verdict.sentence == "blocked: no mobile number — fix it in the IdP"
    assert "mobile" in {d.field for d in blocked.dingtalk.differences}

    scim.patch(
        f"/Users/{nora['id']}",
        replace(phoneNumbers=[{"value": "+86 13955550000", "type": "mobile"}]),
    )
    sync()
    fixed = explained(nora["id"])
    assert fixed.verdict.sentence == "in DingTalk and up to date"
    assert fixed.dingtalk.holds is not None and fixed.dingtalk.holds["mobile"] == "13955550000"
