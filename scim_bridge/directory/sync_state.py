"""How far each resource has reached DingTalk, for the read-only SCIM sync extension."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scim_bridge.directory.models import DeadLetter, Link, OutboxEntry
from scim_bridge.directory.representation import iso


def sync_states(
    session: Session, resource_type: str, ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Return {id: {state, dingtalkId, lastSyncedAt, lastError}} for Users or Groups."""
    if not ids:
        return {}
    kind = "user" if resource_type == "User" else "department"
    keys = {(i if kind == "user" else f"group:{i}"): i for i in ids}
    links = {
        keys[lk.key]: lk
        for lk in session.scalars(select(Link).where(Link.kind == kind, Link.key.in_(list(keys))))
    }
    pending = set(
        session.scalars(
            select(OutboxEntry.resource_id).where(
                OutboxEntry.resource_type == resource_type, OutboxEntry.resource_id.in_(list(ids))
            )
        )
    )
    dead = {
        d.resource_id: d
        for d in session.scalars(
            select(DeadLetter).where(
                DeadLetter.resource_type == resource_type, DeadLetter.resource_id.in_(list(ids))
            )
        )
    }
    out: dict[str, dict[str, Any]] = {}
    for i in ids:
        link = links.get(i)
        state: dict[str, Any] = {}
        if i in dead:
            state["state"] = "failed"
            state["lastError"] = dead[i].reason
        elif i in pending:
            state["state"] = "retrying" if link is not None and link.last_error else "pending"
        elif link is not None:
            state["state"] = "synced" if link.state in ("synced", "removed") else link.state
        else:
            state["state"] = "pending" if resource_type == "User" else "skipped"
        if link is not None:
            if link.dingtalk_id:
                state["dingtalkId"] = link.dingtalk_id
            if link.last_synced_at is not None:
                state["lastSyncedAt"] = iso(link.last_synced_at)
            if link.last_error and "lastError" not in state:
                state["lastError"] = link.last_error
        out[i] = state
    return out
