"""The sync's decisions over what it remembers: last-applied snapshots, links, staleness.

The translator keeps, on each link, the snapshot of what it last applied. These rules say what
that snapshot holds, when a person must still be created or adopted, when a mapping change makes
a resource stale, and who waits for whom (managers, department members). Pure: plain data in,
plain data out, no session, no client, no clock (issue 10); the translator and the
reconcile helper call them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from scim_bridge.mapping.model import REMOVE, ROOT_DEPT_ID, SKIP, UserProjection
from scim_bridge.sync.decide import DEPT_LIST, MANAGER

#: Snapshot keys that are ours, not DingTalk fields: the mapping output's digest, and the
#: DingTalk role ids this bridge gave the person.
PROJECTION = "_projection"
HELD_ROLES = "_roles"
#: Keys of a DingTalk user/get answer that are identities, not fields to compare.
_IDENTITIES = ("userid", "unionid", "unionId")


def snapshot_hash(snapshot: Mapping[str, Any]) -> str:
    """Return a stable digest of a desired-state snapshot (keys sorted, JSON)."""
    text = json.dumps(snapshot, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def projection_hash(projection: UserProjection) -> str:
    """Return a stable digest of what the mapping wants for one user."""
    return snapshot_hash(projection.snapshot())


def user_fields(desired: Mapping[str, Any]) -> dict[str, Any]:
    """Return the DingTalk user fields of a desired snapshot (not departments, manager, ours)."""
    return {
        k: v for k, v in desired.items() if k not in (DEPT_LIST, MANAGER) and not k.startswith("_")
    }


def desired_person(
    projection: UserProjection, dept_ids: Iterable[int], manager_userid: str | None
) -> dict[str, Any]:
    """Return the snapshot a person should have: fields, departments, manager, rules digest.

    A person in no department is placed in the root (dingtalk-api.md §3.1: dept_id_list is
    required); the digest lets a new mapping re-project only who changes.
    """
    desired: dict[str, Any] = dict(projection.fields)
    desired[DEPT_LIST] = sorted(set(dept_ids)) or [ROOT_DEPT_ID]
    desired[MANAGER] = manager_userid
    desired[PROJECTION] = projection_hash(projection)
    return desired


def as_snapshot(remote: Mapping[str, Any]) -> dict[str, Any]:
    """Turn a DingTalk user/get answer into the shape of our snapshots, to diff against."""
    out = {k: v for k, v in remote.items() if k not in _IDENTITIES}
    depts = remote.get(DEPT_LIST)
    if isinstance(depts, list):
        out[DEPT_LIST] = sorted(int(d) for d in depts)
    return out


def has_person(*, live: bool, dingtalk_id: str | None, snapshot: Mapping[str, Any] | None) -> bool:
    """Say whether a user link stands for a person in DingTalk, to update rather than create.

    A link that is gone (``live`` false), only reserves a userid (no snapshot: a create not yet
    finished) or has no userid means the person is still to be created or adopted.
    """
    return live and bool(dingtalk_id) and snapshot is not None


def held_roles(snapshot: Mapping[str, Any] | None) -> list[Any]:
    """Return the role ids of ours a person holds, as the last snapshot recorded them."""
    return list((snapshot or {}).get(HELD_ROLES) or [])


def user_is_stale(projection: UserProjection, *, live: bool, known: str | None) -> bool:
    """Say whether a user must be re-projected after a mapping change.

    ``known`` is the projection digest its link recorded. A user the mapping skips or removes
    while nothing of theirs is in DingTalk has nothing to re-project.
    """
    if projection.action in (SKIP, REMOVE) and not live:
        return False
    return known != projection_hash(projection)


def group_is_stale(wanted: Mapping[str, Any] | None, *, synced: bool, known: str | None) -> bool:
    """Say whether a group's department must be created, changed or removed after a mapping change.

    ``wanted`` is the department's desired snapshot (None: the group is no department any more),
    ``known`` the digest its link recorded.
    """
    if wanted is None:
        return synced
    return known != snapshot_hash(wanted)


def reports_waiting(
    reports: Iterable[str], snapshots: Mapping[str, Mapping[str, Any] | None]
) -> list[str]:
    """Return the reports of a manager who just reached DingTalk and still have no manager set.

    ``snapshots`` maps each report with a link to its last snapshot; a report without one is
    still to be created and waits as well (scim-idp-notes §3.3).
    """
    return [
        uid
        for uid in reports
        if uid not in snapshots or (snapshots[uid] or {}).get(MANAGER) is None
    ]


def members_placed(
    dept_id: int, placements: Iterable[tuple[str, Mapping[str, Any] | None]]
) -> list[str]:
    """Return the users whose last snapshot places them in ``dept_id``.

    design.md: members move out before their department is deleted (dingtalk-api.md §4.3
    refuses to delete a department that still has people).
    """
    return [
        key for key, snapshot in placements if dept_id in ((snapshot or {}).get(DEPT_LIST) or [])
    ]
