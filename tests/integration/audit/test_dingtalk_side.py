"""The DingTalk side of the audit trail: every call the translator makes is a record, linked
to the SCIM change(s) it serves; secrets never reach the database or the log."""

from __future__ import annotations

import itertools
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from audit_support import dingtalk_records, dump, scim_record

from scim_bridge.dingtalk.emulator import RunningEmulator
from scim_bridge.directory.db import Database
from scim_bridge.mapping.rules import default_rules_path, parse_rules
from scim_bridge.monitor.audit import verify
from scim_bridge.monitor.audit_chain import chain_pending
from scim_bridge.sync.worker import Worker

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
DINGTALK_USER = "urn:ietf:params:scim:schemas:extension:dingtalk:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
PASSWORD = "Pw-never-in-the-trail-8362"
_mobiles = itertools.count(13600000000)


def person(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "userName": f"{name}@example.com",
        "externalId": name,
        "displayName": name.title(),
        "phoneNumbers": [{"value": str(next(_mobiles)), "type": "mobile"}],
        **extra,
    }


def replace(path: str, value: Any) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": [{"op": "replace", "path": path, "value": value}]}


def members(op: str, *ids: str) -> dict[str, Any]:
    if op == "remove":
        (one,) = ids
        return {
            "schemas": [PATCH],
            "Operations": [{"op": op, "path": f'members[value eq "{one}"]'}],
        }
    value = [{"value": i} for i in ids]
    return {"schemas": [PATCH], "Operations": [{"op": op, "path": "members", "value": value}]}


def calls_of(database: Database, rtype: str, rid: str, operation: str) -> list[dict[str, Any]]:
    return [
        r
        for r in dingtalk_records(database)
        if (r["resource_type"], r["resource_id"], r["operation"]) == (rtype, rid, operation)
    ]


def one(database: Database, rtype: str, rid: str, operation: str) -> dict[str, Any]:
    found = calls_of(database, rtype, rid, operation)
    assert len(found) == 1, (rtype, rid, operation, dingtalk_records(database))
    return found[0]


def assert_serves(record: dict[str, Any], scim: dict[str, Any]) -> None:
    """The DingTalk-side record names the SCIM record, and carries its request id."""
    assert scim["id"] in record["detail"]["serves"]
    assert record["request_id"] == scim["request_id"]


def test_user_calls_are_recorded_with_api_errcode_latency_and_their_scim_change(
    scim: Any, worker: Worker, database: Database
) -> None:
    boss = scim.post("/Users", person("boss")).json["id"]
    carol = scim.post("/Users", person("carol")).json["id"]
    worker.run_until_idle()
    created = one(database, "User", boss, "create")
    assert_serves(created, scim_record(database, "POST", boss))
    dt = created["detail"]["dingtalk"]
    assert (dt["target"], dt["outcome"], dt["errcode"], created["status"]) == ("boss", "ok", "0", 0)
    apis = [c["api"] for c in dt["calls"]]
    assert "/topapi/v2/user/create" in apis
    # The lookup before the create (by mobile, dingtalk-api.md §3.6) may answer "not found".
    create = [c for c in dt["calls"] if c["api"] == "/topapi/v2/user/create"]
    assert [c["errcode"] for c in create] == ["0"], dt["calls"]
    assert all(c["ms"] >= 0 for c in dt["calls"])
    assert dt["ms"] >= 0

    alice = scim.post("/Users", person("alice", **{ENTERPRISE: {"manager": {"value": boss}}}))
    alice_id = alice.json["id"]
    worker.run_until_idle()
    created = one(database, "User", alice_id, "create")
    assert created["detail"]["dingtalk"]["fields"]["manager_userid"] == "boss"
    assert_serves(created, scim_record(database, "POST", alice_id))

    scim.patch(f"/Users/{alice_id}", replace("title", "Lead"))
    worker.run_until_idle()
    updated = one(database, "User", alice_id, "update")
    assert updated["detail"]["dingtalk"]["fields"] == {"title": "Lead"}
    assert_serves(updated, scim_record(database, "PATCH", alice_id))

    scim.patch(f"/Users/{alice_id}", replace(f"{ENTERPRISE}:manager", {"value": carol}))
    worker.run_until_idle()
    manager = calls_of(database, "User", alice_id, "update")[-1]
    assert manager["detail"]["dingtalk"]["fields"]["manager_userid"] == "carol"
    assert_serves(manager, scim_record(database, "PATCH", alice_id))
    # Two PATCHes collapse into the one call they cause: it serves both.
    scim.patch(f"/Users/{alice_id}", replace("title", "Head"))
    first = scim_record(database, "PATCH", alice_id)
    scim.patch(f"/Users/{alice_id}", replace("title", "Chief"))
    worker.run_until_idle()
    collapsed = calls_of(database, "User", alice_id, "update")[-1]
    assert collapsed["detail"]["dingtalk"]["fields"] == {"title": "Chief"}
    assert first["id"] in collapsed["detail"]["serves"]
    assert_serves(collapsed, scim_record(database, "PATCH", alice_id))

    assert scim.delete(f"/Users/{alice_id}").status_code == 204
    worker.run_until_idle()
    deleted = one(database, "User", alice_id, "delete")
    assert_serves(deleted, scim_record(database, "DELETE", alice_id))
    assert "/topapi/v2/user/delete" in [c["api"] for c in deleted["detail"]["dingtalk"]["calls"]]
    chain_pending(database, now=datetime.now(UTC))
    with database.read() as session:
        assert verify(session).intact


def test_a_mobile_dropped_in_the_idp_is_kept_and_the_rest_of_the_change_is_sent(
    scim: Any, worker: Worker, database: Database, emulator: RunningEmulator
) -> None:
    frank = scim.post("/Users", person("frank", title="Rep")).json["id"]
    worker.run_until_idle()
    mobile = emulator.emulator.users()["frank"]["mobile"]
    # The IdP unassigns the phone attribute and changes the title in one update. DingTalk
    # requires a member's mobile (dingtalk-api.md §3.1): mobile="" is refused (60103) or
    # ignored, and a refusal would have cost the title change too.
    drop = {"schemas": [PATCH], "Operations": [{"op": "remove", "path": "phoneNumbers"}]}
    drop["Operations"].append(replace("title", "Lead")["Operations"][0])
    scim.patch(f"/Users/{frank}", drop)
    worker.run_until_idle()
    assert one(database, "User", frank, "update")["detail"]["dingtalk"]["fields"] == {
        "title": "Lead"
    }
    held = emulator.emulator.users()["frank"]
    assert (held["title"], held["mobile"]) == ("Lead", mobile)


def test_department_and_role_calls_are_recorded_with_their_scim_change(
    scim: Any, worker: Worker, database: Database, emulator: RunningEmulator
) -> None:
    del emulator  # the worker's DingTalk
    source = default_rules_path().read_text(encoding="utf-8")
    worker.translator.rules = parse_rules(
        source.replace("roles:\n  enabled: false", "roles:\n  enabled: true"), source="roles.yaml"
    )
    dan = scim.post("/Users", person("dan")).json["id"]
    sales = scim.post("/Groups", {"displayName": "Sales"}).json["id"]
    scim.patch(f"/Groups/{sales}", members("add", dan))
    worker.run_until_idle()
    key = f"group:{sales}"
    created = one(database, "Department", key, "create")
    assert "/topapi/v2/department/create" in [
        c["api"] for c in created["detail"]["dingtalk"]["calls"]
    ]
    group_writes = {
        scim_record(database, "POST", sales)["id"],
        scim_record(database, "PATCH", sales)["id"],
    }
    assert group_writes & set(created["detail"]["serves"])
    given = [r for r in calls_of(database, "User", dan, "add_roles")]
    assert given and scim_record(database, "PATCH", sales)["id"] in given[-1]["detail"]["serves"]
    assert [r for r in dingtalk_records(database) if r["resource_type"] == "Role"]

    scim.patch(f"/Groups/{sales}", replace("displayName", "Field Sales"))
    worker.run_until_idle()
    renamed = one(database, "Department", key, "update")
    assert renamed["detail"]["dingtalk"]["fields"]["name"] == "Field Sales"
    assert_serves(renamed, scim_record(database, "PATCH", sales))
    role = [
        r
        for r in dingtalk_records(database)
        if (r["resource_type"], r["operation"]) == ("Role", "update")
    ]
    assert role and role[-1]["detail"]["dingtalk"]["fields"] == {"name": "Field Sales"}

    scim.patch(f"/Groups/{sales}", members("remove", dan))
    worker.run_until_idle()
    taken = calls_of(database, "User", dan, "remove_roles")
    assert taken and scim_record(database, "PATCH", sales)["id"] in taken[-1]["detail"]["serves"]
    assert scim.delete(f"/Groups/{sales}").status_code == 204
    worker.run_until_idle()
    deleted = one(database, "Department", key, "delete")
    assert_serves(deleted, scim_record(database, "DELETE", sales))


def test_a_refused_call_is_recorded_with_dingtalks_errcode(
    scim: Any, worker: Worker, database: Database
) -> None:
    # DingTalk refuses an extension number another person has (40100), never retried.
    phone = {DINGTALK_USER: {"telephone": "8001"}}
    scim.post("/Users", person("fay", **phone))
    worker.run_until_idle()
    eve = scim.post("/Users", person("eve", **phone)).json["id"]
    worker.run_until_idle()
    (failed,) = calls_of(database, "User", eve, "sync")
    dt = failed["detail"]["dingtalk"]
    assert (dt["outcome"], dt["errcode"], failed["status"]) == ("failed", "40100", 40100)
    assert {"api": "/topapi/v2/user/create", "errcode": "40100"} in [
        {"api": c["api"], "errcode": c["errcode"]} for c in dt["calls"]
    ]
    assert_serves(failed, scim_record(database, "POST", eve))


def test_no_token_app_secret_or_password_in_the_database_or_the_log(
    scim: Any,
    token: str,
    worker: Worker,
    database: Database,
    db_url: str,
    emulator: RunningEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="scim_bridge")
    gus = scim.post("/Users", person("gus", password=PASSWORD)).json["id"]
    team = scim.post("/Groups", {"displayName": "Team", "members": [{"value": gus}]}).json["id"]
    scim.patch(f"/Users/{gus}", replace("password", PASSWORD + "-2"))
    worker.run_until_idle()
    scim.delete(f"/Groups/{team}")
    scim.delete(f"/Users/{gus}")
    worker.run_until_idle()
    chain_pending(database, now=datetime.now(UTC))
    assert calls_of(database, "User", gus, "delete")  # the run reached DingTalk and back
    secret = emulator.emulator.config.app_secret
    stored, logged = dump(database, db_url), caplog.text
    for needle in (token, secret, PASSWORD):
        assert needle not in stored
        assert needle not in logged
