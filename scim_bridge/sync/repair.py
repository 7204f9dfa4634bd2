"""Repair drift through the normal path: outbox -> translator, never a side door (issue 10).

The translator diffs the desired state against a link's *snapshot* (what it believes DingTalk
holds). Reconcile found that belief wrong, so a repair corrects the belief, not DingTalk: it
writes the state it OBSERVED as the snapshot (or marks a link whose record is gone as removed)
and queues the resource in the outbox, in one transaction. The worker's translator then makes
exactly the calls its own diff asks for, with its retries, guard, audit and dead letters.

Orphans (people or departments in DingTalk no link holds) follow the mapping's policy:
``report`` leaves them; ``adopt`` links a person to the SCIM user with the same match key;
``remove`` gives the person a link of its own with no SCIM user behind it, so the translator's
removal path (and the mass-change guard, which counts such links) deletes them.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scim_bridge.directory.db import Database
from scim_bridge.directory.models import Link
from scim_bridge.directory.outbox import Lane, mark_changed
from scim_bridge.mapping.model import UPSERT, Projection
from scim_bridge.sync.decide import DEPT_LIST, MANAGER
from scim_bridge.sync.plan import CurrentState
from scim_bridge.sync.reconcile_compare import (
    DEPARTMENT_FIELD,
    STALE_LINK,
    USER,
    USER_DEPARTMENTS,
    USER_FIELD,
    USER_ORPHAN,
    Drift,
    group_id_of,
)

ACTOR = "reconcile"
SYNCED, REMOVED = "synced", "removed"
REPORT, ADOPT, REMOVE = "report", "adopt", "remove"
#: Names the link of an orphan to remove: uuid5 of its userid, 36 characters like a SCIM id.
_ORPHAN_NS = uuid.UUID("6b1f3c2e-5d0a-4d3b-9a7e-2f1c0e9d8b71")


@dataclass(frozen=True)
class OrphanPolicy:
    """The mapping file's ``reconcile`` section: what to do with people not ours."""

    orphans: str = REPORT  # report | adopt | remove
    match: str = "mobile"  # mobile | email | job_number (adopt)


@dataclass
class Repairs:
    """What a repair queued: resources in the outbox, links corrected, orphans handled."""

    queued: set[tuple[str, str]] = field(default_factory=set)
    snapshots: int = 0
    unlinked: int = 0
    adopted: int = 0
    removing: int = 0


def orphan_link_key(userid: str) -> str:
    """Return the key of the link that carries an orphan to the translator's removal path."""
    return str(uuid.uuid5(_ORPHAN_NS, userid))


def observed_user(old: Mapping[str, Any], live: Mapping[str, Any], managed: Iterable[str]) -> dict:
    """Return a user snapshot holding what DingTalk showed (ours: _projection, _roles, kept)."""
    out = dict(old)
    for name in {*old, *managed}:
        if name.startswith("_") or name in (DEPT_LIST, MANAGER):
            continue
        out[name] = live.get(name)  # DingTalk omits an empty field: None, as decide.is_empty
    out[DEPT_LIST] = sorted(int(d) for d in live.get(DEPT_LIST) or [])
    out[MANAGER] = live.get(MANAGER) or None
    return out


def observed_department(old: Mapping[str, Any], live: Mapping[str, Any]) -> dict:
    """Return a department snapshot holding what DingTalk showed (its _projection kept)."""
    out = dict(old)
    for name in ("name", "parent_id", "source_identifier", "order"):
        out[name] = live.get(name)
    return out


def repair(
    db: Database,
    drift: Iterable[Drift],
    *,
    desired: Projection,
    current: CurrentState,
    policy: OrphanPolicy,
    now: datetime,
) -> Repairs:
    """Correct the links drift proved wrong and queue every resource concerned, one transaction."""
    done = Repairs()
    with db.write() as session:
        for item in drift:
            if item.target == USER:
                _user(session, item, desired, current, policy, done)
            else:
                _department(session, item, desired, current, done)
        for resource_type in ("User", "Group"):
            ids = sorted(i for t, i in done.queued if t == resource_type)
            # A repair waits behind leavers and IdP edits (issue 14, "Leavers first").
            mark_changed(session, resource_type, ids, actor=ACTOR, now=now, lane=Lane.BULK)
        _stamp(session, now)
    return done


def _link(session: Session, kind: str, key: str) -> Link | None:
    return session.scalar(select(Link).where(Link.kind == kind, Link.key == key))


def _user(
    session: Session,
    item: Drift,
    desired: Projection,
    current: CurrentState,
    policy: OrphanPolicy,
    done: Repairs,
) -> None:
    if not item.key:
        _orphan(session, item, desired, current, policy, done)
        return
    link = _link(session, "user", item.key)
    if item.kind == STALE_LINK and link is not None:
        # The person is gone: the translator sees no person and creates (or leaves) them.
        link.state, link.snapshot = REMOVED, None
        done.unlinked += 1
    elif item.kind in (USER_FIELD, USER_DEPARTMENTS) and link is not None:
        live = current.users.get(item.dingtalk_id or "")
        if live is not None and link.snapshot is not None:
            link.snapshot = observed_user(link.snapshot, live, desired.managed_fields)
            done.snapshots += 1
    done.queued.add(("User", item.key))


def _department(
    session: Session, item: Drift, desired: Projection, current: CurrentState, done: Repairs
) -> None:
    if not item.key:
        return  # a department not ours: reported (removing one is not a policy yet)
    link = _link(session, "department", item.key)
    if item.kind == STALE_LINK and link is not None:
        link.state, link.snapshot, link.dingtalk_id = REMOVED, None, None
        done.unlinked += 1
    elif item.kind == DEPARTMENT_FIELD and link is not None and link.snapshot is not None:
        live = current.departments.get(int(item.dingtalk_id or 0))
        if live is not None:
            link.snapshot = observed_department(link.snapshot, live)
            done.snapshots += 1
    group_id = group_id_of(item.key)
    if group_id is not None:
        done.queued.add(("Group", group_id))
    # A person's sync ensures their departments first, and moves them to a re-created one.
    for scim_id in members_of(desired, item.key):
        done.queued.add(("User", scim_id))


def members_of(desired: Projection, key: str) -> list[str]:
    """Return the SCIM ids of the people the mapping places in department ``key``."""
    return sorted(
        s for s, u in desired.users.items() if u.action == UPSERT and key in u.department_keys
    )


def _orphan(
    session: Session,
    item: Drift,
    desired: Projection,
    current: CurrentState,
    policy: OrphanPolicy,
    done: Repairs,
) -> None:
    if item.kind != USER_ORPHAN or policy.orphans == REPORT or not item.dingtalk_id:
        return
    live = current.users.get(item.dingtalk_id)
    if live is None:
        return
    if policy.orphans == ADOPT:
        scim_id = _match(desired, current, live, policy.match)
        if scim_id is not None:
            _adopt(session, scim_id, item.dingtalk_id, live, desired.managed_fields, done)
        return
    key = orphan_link_key(item.dingtalk_id)
    link = _link(session, "user", key) or Link(kind="user", key=key, attempts=0)
    link.dingtalk_id, link.state = item.dingtalk_id, SYNCED
    link.snapshot = observed_user({"name": live.get("name")}, live, ())
    session.add(link)
    done.removing += 1
    done.queued.add(("User", key))


def _match(
    desired: Projection, current: CurrentState, live: Mapping[str, Any], match: str
) -> str | None:
    """Return the one unlinked managed SCIM user whose ``match`` field equals the person's."""
    value = str(live.get(match) or "").strip().casefold()
    if not value:
        return None
    found = [
        s
        for s, u in desired.users.items()
        if u.action == UPSERT
        and s not in current.user_links
        and str(u.fields.get(match) or "").strip().casefold() == value
    ]
    return found[0] if len(found) == 1 else None


def _adopt(
    session: Session,
    scim_id: str,
    userid: str,
    live: Mapping[str, Any],
    managed: Collection[str],
    done: Repairs,
) -> None:
    link = _link(session, "user", scim_id) or Link(kind="user", key=scim_id, attempts=0)
    link.dingtalk_id, link.state = userid, SYNCED
    link.snapshot = {**observed_user({}, live, managed), "_roles": []}
    session.add(link)
    done.adopted += 1
    done.queued.add(("User", scim_id))


def _stamp(session: Session, now: datetime) -> None:
    """Give links touched here the time of the repair."""
    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, Link):
            obj.updated_at = now
