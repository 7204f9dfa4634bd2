"""Apply the decision engine's user operations through the DingTalk client, one call each.

decide.py says what to write; this module only turns an operation into the client call and
returns what was sent (the outcome the recorder writes to the audit trail).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scim_bridge.dingtalk.client import DingTalkClient
from scim_bridge.sync.decide import DEPT_LIST, MANAGER, Operation


@dataclass(frozen=True)
class Outcome:
    """What one applied call sent to DingTalk."""

    fields: Mapping[str, Any]
    clear_manager: bool = False


def _dept_ids(desired: Mapping[str, Any]) -> list[int]:
    # decide.py compares department ids as text; DingTalk takes numbers.
    return [int(d) for d in desired[DEPT_LIST]]


def create_person(
    client: DingTalkClient, userid: str, op: Operation, desired: Mapping[str, Any]
) -> Outcome:
    """Create the person a create operation describes, under ``userid``."""
    fields = dict(op.values)
    fields[DEPT_LIST] = _dept_ids(desired)
    fields["userid"] = userid
    client.create_user(fields)
    return Outcome(fields)


def update_person(
    client: DingTalkClient, userid: str, ops: Sequence[Operation], desired: Mapping[str, Any]
) -> Outcome | None:
    """Send one person's update and move as one user/update call; None if nothing changes."""
    changes: dict[str, Any] = {}
    clear_manager = False
    for op in ops:
        for change in op.changes:
            if change.field == MANAGER and change.new is None:
                clear_manager = True  # dingtalk-api.md §3.3: "" would be refused
            elif change.field == DEPT_LIST:
                changes[DEPT_LIST] = _dept_ids(desired)
            else:
                changes[change.field] = change.new
    if not changes and not clear_manager:
        return None
    client.update_user(userid, changes, clear_manager=clear_manager)
    return Outcome(changes, clear_manager)


def set_roles(client: DingTalkClient, userid: str, op: Operation) -> tuple[list[int], list[int]]:
    """Give and take back roles as a roles operation says; return (added, removed) role ids."""
    (change,) = op.changes
    old = {int(r) for r in change.old}
    new = {int(r) for r in change.new}
    added, removed = sorted(new - old), sorted(old - new)
    if added:
        client.add_roles_for_users(added, [userid])
    if removed:
        client.remove_roles_for_users(removed, [userid])
    return added, removed


def delete_person(client: DingTalkClient, op: Operation) -> bool:
    """Delete the person a delete operation names; say whether DingTalk still had them."""
    return client.delete_user(op.ident)
