"""`plan` and the translator decide the same way (issue 10): one engine, two callers.

The 500-person sample directory is projected onto the emulator; then a round of IdP changes
(new titles, a cleared e-mail, moves, a manager change, leavers, a newcomer) is planned with
`--source links` and executed by the translator. The operations the translator decides, as it
decides them, are exactly the operations the plan lists for those people.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scim_bridge.directory import groups, users
from scim_bridge.directory.db import Database
from scim_bridge.directory.prepared import Cursor
from scim_bridge.directory.tokens import Principal
from scim_bridge.directory.users import Context
from scim_bridge.mapping.project import project_directory
from scim_bridge.sync.decide import Operation, Target
from scim_bridge.sync.dryrun import current_from_links, load_directory
from scim_bridge.sync.plan import plan
from scim_bridge.sync.worker import Worker

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample_directory.json"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def context() -> Context:
    return Context(principal=Principal(1, "seed", "seed", "auto"), now=datetime.now(UTC))


def seed_sample(database: Database) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """Load the sample through the services; return it, user ids and group ids (old -> new)."""
    sample = json.loads(SAMPLE.read_text(encoding="utf-8"))
    ctx = context()
    new_id: dict[str, str] = {}
    managers: dict[str, str] = {}
    group_ids: dict[str, str] = {}
    with database.write() as session:
        for user in sample["users"]:
            body = {k: v for k, v in user.items() if k not in ("id", "groups", "meta")}
            manager = (body.get(ENTERPRISE) or {}).pop("manager", None)
            if manager:
                managers[user["id"]] = manager["value"]
            new_id[user["id"]] = users.create_user(Cursor.of(session), body, ctx).id
        for old, manager_id in managers.items():
            replace_attr(
                session, new_id[old], f"{ENTERPRISE}:manager", new_id.get(manager_id, manager_id)
            )
        for group in sample["groups"]:
            members = [{"value": new_id[m["value"]]} for m in group.get("members", [])]
            body = {"displayName": group["displayName"], "members": members}
            group_ids[group["id"]] = groups.create_group(session, body, ctx).id
    return sample, new_id, group_ids


def replace_attr(session: Any, user_id: str, path: str, value: Any) -> None:
    op = (
        {"op": "replace", "path": path, "value": value}
        if path
        else {"op": "replace", "value": value}
    )
    users.patch_user(
        Cursor.of(session), user_id, {"schemas": [PATCH], "Operations": [op]}, context()
    )


def remove_attr(session: Any, user_id: str, path: str) -> None:
    op = {"op": "remove", "path": path}
    users.patch_user(
        Cursor.of(session), user_id, {"schemas": [PATCH], "Operations": [op]}, context()
    )


def comparable(ops: list[Operation], keys: set[str]) -> Counter[tuple[Any, ...]]:
    """The user operations on ``keys``, as a multiset of what they do."""
    return Counter(
        (
            str(op.kind),
            op.key,
            op.ident,
            op.name,
            json.dumps([c.to_dict() for c in op.changes], sort_keys=True),
            op.reason,
        )
        for op in ops
        if op.target == Target.USER and op.key in keys
    )


def synced_people(database: Database) -> list[str]:
    return sorted(current_from_links(database).user_links)


def test_plan_lists_exactly_the_operations_the_translator_executes(
    database: Database, worker: Worker
) -> None:
    sample, ids, group_ids = seed_sample(database)
    worker.run_until_idle(timeout=300)
    linked = synced_people(database)
    assert len(linked) > 400  # the sample's planted bad records stay dead-lettered

    # A round of IdP changes, on people the bridge holds.
    a, b, c, d, e, f, g, h, i = linked[:9]
    groups_by_member: dict[str, str] = {}
    for group in sample["groups"]:
        for member in group.get("members", []):
            groups_by_member.setdefault(ids[member["value"]], group_ids[group["id"]])
    mover = next(u for u in linked[10:] if u in groups_by_member)
    target_group = next(gid for gid in group_ids.values() if gid != groups_by_member[mover])
    with database.write() as session:
        replace_attr(session, a, "title", "Chief Example Officer")
        replace_attr(session, b, "displayName", "Renamed Person")
        remove_attr(session, c, "emails")
        replace_attr(session, d, f"{ENTERPRISE}:manager", e)
        remove_attr(session, f, f"{ENTERPRISE}:manager")
        replace_attr(session, g, "", {"active": False})
        users.delete_user(Cursor.of(session), h, context())
        groups.patch_group(
            session,
            target_group,
            {
                "schemas": [PATCH],
                "Operations": [{"op": "add", "path": "members", "value": [{"value": mover}]}],
            },
            context(),
        )
        newcomer = users.create_user(
            Cursor.of(session),
            {
                "userName": "newcomer@example.com",
                "externalId": "newcomer",
                "displayName": "New Comer",
                "phoneNumbers": [{"value": "13711112222", "type": "mobile"}],
                ENTERPRISE: {"manager": {"value": i}},
            },
            context(),
        ).id
    touched = {a, b, c, d, f, g, h, mover, newcomer}

    directory_users, directory_groups = load_directory(database)
    rules = worker.translator.rules
    planned = plan(
        project_directory(directory_users, directory_groups, rules), current_from_links(database)
    )

    executed: list[Operation] = []
    worker.translator.observe = executed.append
    worker.run_until_idle(timeout=120)

    expected = comparable(list(planned.steps), touched)
    assert {(kind, key) for (kind, key, *_rest) in expected} == {
        ("update", a),
        ("update", b),
        ("update", c),
        ("update", d),
        ("update", f),
        ("delete", g),
        ("delete", h),
        ("move", mover),
        ("create", newcomer),
    }
    assert comparable(executed, touched) == expected
    # The e-mail removed in the IdP is sent as "" (the empty-value rule). NB: the emulator
    # treats "" as "not sent", so whether DingTalk clears it is for reconcile to verify.
    (cleared,) = [op for op in executed if op.key == c]
    assert [(ch.field, ch.new) for ch in cleared.changes] == [("email", "")]
    # Nor did it decide, for anyone else it re-read, anything the plan does not list.
    others = set(ids.values()) - touched
    assert not comparable(executed, others) - comparable(list(planned.steps), others)
