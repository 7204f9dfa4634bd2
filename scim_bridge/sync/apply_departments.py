"""Apply the decision engine's department and role operations through the DingTalk client.

decide_departments.py says what to write; this module turns one operation into its client
call, and completes a create DingTalk may already have applied (a sibling of that name, or a
timeout) by finding the department instead of creating a second one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scim_bridge.dingtalk.client import DepartmentNameTaken, DingTalkClient
from scim_bridge.errors import AmbiguousWrite
from scim_bridge.sync.decide import Operation


@dataclass(frozen=True)
class Placed:
    """The department a create operation ended with: made now, or adopted (and why)."""

    dept_id: int
    adopted: str | None = None


def create_department(client: DingTalkClient, op: Operation) -> Placed:
    """Create the department a create operation describes, or adopt the one DingTalk has."""
    values = op.values
    name, parent_id = str(values["name"]), int(values["parent_id"])
    source = values.get("source_identifier")
    try:
        return Placed(
            client.create_department(
                name, parent_id, order=values.get("order"), source_identifier=source
            )
        )
    except DepartmentNameTaken as exc:
        if exc.dept_id is None:
            raise
        # dingtalk-api.md §10: (parent, name) is the natural key; adopt the sibling.
        return Placed(int(exc.dept_id), adopted=exc.reason)
    except AmbiguousWrite:
        # dingtalk-api.md §12.4: the create may have been applied; re-read before retrying.
        found = client.find_department(parent_id, name=name, source_identifier=source)
        if found is None:
            raise
        return Placed(int(found["dept_id"]), adopted="after a timeout")


def update_department(
    client: DingTalkClient, dept_id: int, ops: Sequence[Operation]
) -> dict[str, Any]:
    """Send a department's rename and move as one department/update call; return what was sent."""
    changes: dict[str, Any] = {}
    for op in ops:
        for change in op.changes:
            # decide compares department ids as text; DingTalk takes numbers.
            changes[change.field] = int(change.new) if change.field == "parent_id" else change.new
    if changes:
        client.update_department(dept_id, changes)
    return changes


def delete_department(client: DingTalkClient, op: Operation) -> bool:
    """Delete the department a delete operation names; say whether DingTalk still had it."""
    return client.delete_department(int(op.ident))


def create_role(client: DingTalkClient, op: Operation, group_id: int) -> int:
    """Create the role a create operation describes inside its role group; return its id."""
    return client.add_role(str(op.values["roleName"]), group_id)


def rename_role(client: DingTalkClient, op: Operation) -> None:
    """Rename a role as an update operation says (a group renamed in the IdP)."""
    client.update_role(int(op.ident), str(op.values["roleName"]))


def create_role_group(client: DingTalkClient, name: str) -> int:
    """Create the role group our roles live in; return its id."""
    return client.add_role_group(name)
