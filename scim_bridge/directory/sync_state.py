"""How far each resource has reached DingTalk, for the read-only SCIM sync extension."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, literal, select

from scim_bridge.directory.models import DeadLetter, Group, Link, OutboxEntry, User
from scim_bridge.directory.prepared import Cursor, Prepared
from scim_bridge.directory.representation import iso


def state_select(resource_type: str) -> Select[Any]:
    """The sync state columns of Users or Groups named by the expanding ``ids`` parameter:
    id, link state, DingTalk id, last synced, last error, a waiting change, a dead letter."""
    model: Any = User if resource_type == "User" else Group
    kind = "user" if resource_type == "User" else "department"
    key = model.id if resource_type == "User" else literal("group:") + model.id
    # One query for a whole page: the link, whether a change waits, and a dead letter.
    return (
        select(
            model.id,
            Link.state,
            Link.dingtalk_id,
            Link.last_synced_at,
            Link.last_error,
            OutboxEntry.id,
            DeadLetter.reason,
        )
        .outerjoin(Link, and_(Link.kind == kind, Link.key == key))
        .outerjoin(
            OutboxEntry,
            and_(OutboxEntry.resource_type == resource_type, OutboxEntry.resource_id == model.id),
        )
        .outerjoin(
            DeadLetter,
            and_(DeadLetter.resource_type == resource_type, DeadLetter.resource_id == model.id),
        )
        .where(model.id.in_(bindparam("ids", expanding=True)))
    )


_QUERIES = {rt: Prepared(state_select(rt), expanding="ids") for rt in ("User", "Group")}


def sync_states(
    reader: Cursor, resource_type: str, ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Return {id: {state, dingtalkId, lastSyncedAt, lastError}} for Users or Groups."""
    if not ids:
        return {}
    found = _QUERIES[resource_type].rows(reader, ids=ids)
    return {row[0]: state_of(resource_type, *row[1:]) for row in found}


def state_of(
    resource_type: str,
    link_state: str | None,
    dingtalk_id: str | None,
    synced_at: datetime | None,
    link_error: str | None,
    pending: int | None,
    dead: str | None,
) -> dict[str, Any]:
    """The extension's ``sync`` object from one row of ``state_select``."""
    state: dict[str, Any] = {}
    if dead is not None:
        state["state"] = "failed"
        # The link's words are the ones meant for this resource's own IdP; a dead letter's
        # reason is for operators and may name another user (sync/failures.py).
        state["lastError"] = link_error or dead
    elif pending is not None:
        state["state"] = "retrying" if link_error else "pending"
    elif link_state is not None:
        state["state"] = "synced" if link_state in ("synced", "removed") else link_state
    else:
        state["state"] = "pending" if resource_type == "User" else "skipped"
    if dingtalk_id:
        state["dingtalkId"] = dingtalk_id
    if synced_at is not None:
        state["lastSyncedAt"] = iso(synced_at)
    if link_error and "lastError" not in state:
        state["lastError"] = link_error
    return state
