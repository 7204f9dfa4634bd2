"""`scim-bridge audit history USER`: one person's timeline from the IdP's requests to
DingTalk's answers, in order; the person named by SCIM id, userName or DingTalk userid."""

from __future__ import annotations

import itertools
import json
from typing import Any

from click.testing import CliRunner

from scim_bridge.cli import main
from scim_bridge.sync.worker import Worker

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
_mobiles = itertools.count(13500000000)


def person(name: str, external: str) -> dict[str, Any]:
    return {
        "userName": name,
        "externalId": external,
        "displayName": name.title(),
        "phoneNumbers": [{"value": str(next(_mobiles)), "type": "mobile"}],
    }


def history(db_url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, ["audit", "history", *args], env={"SCIM_BRIDGE_DATABASE_URL": db_url}
    )
    return result.exit_code, result.output


def test_history_follows_a_person_from_the_idp_to_dingtalk_in_order(
    scim: Any, worker: Worker, db_url: str
) -> None:
    alice = scim.post("/Users", person("alice", "alice-dt")).json["id"]
    worker.run_until_idle()
    sales = scim.post("/Groups", {"displayName": "Sales"}).json["id"]
    worker.run_until_idle()
    add = {"op": "add", "path": "members", "value": [{"value": alice}]}
    scim.patch(f"/Groups/{sales}", {"schemas": [PATCH], "Operations": [add]})
    worker.run_until_idle()
    title = {"op": "replace", "path": "title", "value": "Lead"}
    scim.patch(f"/Users/{alice}", {"schemas": [PATCH], "Operations": [title]})
    worker.run_until_idle()

    code, out = history(db_url, "alice", "--format", "json")
    assert code == 0, out
    body = json.loads(out)
    assert body["user"] == alice
    steps = [(e["side"], e["operation"], e["resource"].split()[0]) for e in body["entries"]]
    assert steps == [
        ("idp", "POST", "User"),
        ("dingtalk", "create", "User"),
        ("idp", "PATCH", "Group"),
        ("dingtalk", "update", "User"),
        ("idp", "PATCH", "User"),
        ("dingtalk", "update", "User"),
    ]
    stamps = [e["at"] for e in body["entries"]]
    assert stamps == sorted(stamps)
    # Each DingTalk answer carries the request id of the IdP request it served.
    entries = body["entries"]
    for request, answer in ((entries[0], entries[1]), (entries[2], entries[3])):
        assert answer["request_id"] == request["request_id"]
        assert request["record"] in answer["detail"]["serves"]
    assert entries[5]["detail"]["dingtalk"]["fields"] == {"title": "Lead"}

    # The same timeline by SCIM id and by DingTalk userid; the table says it in words.
    for name in (alice, "alice-dt"):
        code, table = history(db_url, name)
        assert code == 0, table
        lines = table.strip().splitlines()
        assert lines[0] == f"audit history of User {alice}: 6 record(s)"
        assert "create alice-dt ok (errcode 0" in lines[2]
        assert "PATCH 200: title" in lines[5]


def test_an_ambiguous_or_unknown_name_is_a_one_line_error(
    scim: Any, worker: Worker, db_url: str
) -> None:
    # "bob" is one person's userName and another's DingTalk userid.
    first = scim.post("/Users", person("bob", "robert")).json["id"]
    second = scim.post("/Users", person("bobby", "bob")).json["id"]
    worker.run_until_idle()
    code, out = history(db_url, "bob")
    assert code == 1
    assert out.count("\n") == 1
    assert "'bob' names 2 users:" in out
    assert f"SCIM id {first}" in out and "by userName" in out
    assert f"SCIM id {second}" in out and "by DingTalk userid" in out
    code, out = history(db_url, "nobody")
    assert code == 1
    assert out.startswith("Error: no user is known as 'nobody'")
