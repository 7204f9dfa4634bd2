"""The translator's departments over real HTTP: an existing sibling adopted, a deleted one restored.

Both are the apply step completing what decide_departments.py decided when DingTalk already
differs from the last snapshot (dingtalk-api.md §10: (parent, name) is a department's natural
key), each checked on the emulator and in the links and audit events the translator records.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from scim_bridge.dingtalk.emulator import RunningEmulator
from scim_bridge.directory.audit import DINGTALK_SIDE
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import AuditRecord
from scim_bridge.sync.decide import Kind, Operation, Target
from scim_bridge.sync.dryrun import current_from_links
from scim_bridge.sync.worker import Worker

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def person(name: str, mobile: str) -> dict[str, Any]:
    return {
        "userName": f"{name}@example.com",
        "displayName": name.title(),
        "phoneNumbers": [{"value": mobile, "type": "mobile"}],
    }


def departments_named(emulator: RunningEmulator, name: str) -> list[int]:
    return [d for d, dept in emulator.emulator.departments().items() if dept["name"] == name]


def department_targets(database: Database, action: str) -> list[str]:
    """The DingTalk ids of the department calls of one kind, from the audit trail, in order."""
    with database.read() as session:
        stmt = (
            select(AuditRecord.detail)
            .where(
                AuditRecord.idp == DINGTALK_SIDE,
                AuditRecord.resource_type == "Department",
                AuditRecord.operation == action,
            )
            .order_by(AuditRecord.id)
        )
        return [str(json.loads(d)["dingtalk"]["target"]) for d in session.scalars(stmt)]


def test_a_department_dingtalk_already_has_under_that_name_is_adopted_not_duplicated(
    scim: Any, worker: Worker, emulator: RunningEmulator, database: Database
) -> None:
    # Made by hand in the DingTalk console before the bridge knew of it.
    existing = worker.translator.client.create_department("Sales", 1)
    alice = scim.post("/Users", person("alice", "13800000001")).json["id"]
    sales = scim.post("/Groups", {"displayName": "Sales", "members": [{"value": alice}]}).json

    worker.run_until_idle()

    assert departments_named(emulator, "Sales") == [existing]
    links = current_from_links(database)
    assert emulator.emulator.users()[links.user_links[alice]]["dept_id_list"] == [existing]
    assert links.dept_links == {f"group:{sales['id']}": existing}
    assert department_targets(database, "adopt") == [str(existing)]
    assert department_targets(database, "create") == []


def test_a_department_deleted_in_dingtalk_is_created_again_on_its_next_change(
    scim: Any, worker: Worker, emulator: RunningEmulator, database: Database
) -> None:
    sales = scim.post("/Groups", {"displayName": "Sales", "members": []}).json
    worker.run_until_idle()
    (first,) = departments_named(emulator, "Sales")
    worker.translator.client.delete_department(first)  # by hand, out of band

    decided: list[Operation] = []
    worker.translator.observe = decided.append
    rename = {"op": "replace", "path": "displayName", "value": "Sales Team"}
    scim.patch(f"/Groups/{sales['id']}", {"schemas": [PATCH], "Operations": [rename]})
    worker.run_until_idle()

    (again,) = departments_named(emulator, "Sales Team")
    assert again != first
    assert current_from_links(database).dept_links == {f"group:{sales['id']}": again}
    # The rename was decided against the snapshot; DingTalk's "no such department" made it a
    # create, which is what was recorded.
    assert [(op.target, op.kind, op.ident) for op in decided] == [
        (Target.DEPARTMENT, Kind.UPDATE, str(first)),
        (Target.DEPARTMENT, Kind.CREATE, f"new:group:{sales['id']}"),
    ]
    assert department_targets(database, "create") == [
        str(first),
        str(again),
    ]
