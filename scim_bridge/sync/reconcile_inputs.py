"""What reconcile compares: the bridge's links and pending work, and DingTalk's live records.

The live read becomes the decision engine's ``CurrentState`` (sync/plan.py), with the few
values DingTalk's list call cannot show taken from the last-applied snapshot: reconcile does not
invent drift it cannot observe. A partial read (incremental, targeted) assumes every record it
did not read is as last applied, so only what it read can differ.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, union

from scim_bridge.directory.db import Database
from scim_bridge.directory.models import DeadLetter, Link, OutboxEntry
from scim_bridge.mapping.model import Projection
from scim_bridge.sync.decide import DEPT_LIST, MANAGER
from scim_bridge.sync.live_read import DEPT_FIELDS, LiveDirectory
from scim_bridge.sync.plan import CurrentState
from scim_bridge.sync.reconcile_compare import Known

SYNCED = "synced"
#: The translator's snapshot key for the role ids of ours a person holds (translator.ROLES).
ROLES_KEY = "_roles"
#: Managed user fields ``v2/user/list`` does not return (dingtalk-api.md §3.5): not observable
#: in a walk, so taken as last applied (``senior_mode`` is ``senior`` in user/get).
UNLISTED = ("org_email_type", "login_email", "senior_mode")


@dataclass
class Links:
    """The bridge's synced links, their snapshots, and when each was last touched."""

    user_links: dict[str, str] = field(default_factory=dict)  # scim id -> userid
    user_snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)
    dept_links: dict[str, int] = field(default_factory=dict)  # key -> dept_id
    dept_snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)
    role_links: dict[str, int] = field(default_factory=dict)
    touched: dict[tuple[str, str], datetime] = field(default_factory=dict)

    @property
    def by_userid(self) -> dict[str, str]:
        """Return {userid: SCIM id} of the synced user links."""
        return {userid: key for key, userid in self.user_links.items()}


def read_links(db: Database) -> Links:
    """Read every synced link (users, departments, roles) with its snapshot."""
    out = Links()
    with db.read() as session:
        for link in session.scalars(select(Link).where(Link.state == SYNCED)):
            if not link.dingtalk_id:
                continue
            at = link.updated_at
            out.touched[(link.kind, link.key)] = at if at.tzinfo else at.replace(tzinfo=UTC)
            if link.kind == "user":
                out.user_links[link.key] = link.dingtalk_id
                out.user_snapshots[link.key] = dict(link.snapshot or {})
            elif link.kind == "department":
                out.dept_links[link.key] = int(link.dingtalk_id)
                out.dept_snapshots[link.key] = dict(link.snapshot or {})
            elif link.kind == "role":
                out.role_links[link.key] = int(link.dingtalk_id)
    return out


def read_pending(db: Database) -> frozenset[tuple[str, str]]:
    """Return the resources the bridge has not applied yet: outbox rows and dead letters."""
    query = union(
        select(OutboxEntry.resource_type, OutboxEntry.resource_id),
        select(DeadLetter.resource_type, DeadLetter.resource_id),
    )
    with db.read() as session:
        return frozenset((str(t), str(i)) for t, i in session.execute(query))


def known(links: Links, pending: frozenset[tuple[str, str]]) -> Known:
    """Return what the comparison attributes drift with."""
    return Known(
        user_snapshots=links.user_snapshots, dept_snapshots=links.dept_snapshots, pending=pending
    )


def wants_detail(links: Links, desired: Projection) -> set[str]:
    """Return the userids whose manager matters: wanted by the mapping or last applied."""
    out = set()
    for key, userid in links.user_links.items():
        user = desired.users.get(key)
        if links.user_snapshots[key].get(MANAGER) or (user is not None and user.manager_scim_id):
            out.add(userid)
    return out


def observed_person(
    record: Mapping[str, Any], snapshot: Mapping[str, Any], *, detailed: bool
) -> dict[str, Any]:
    """Return a live record as the engine compares it: ids as numbers, unlisted fields known."""
    out = dict(record)
    out[DEPT_LIST] = sorted(int(d) for d in record.get(DEPT_LIST) or [])
    for name in UNLISTED:
        if name in snapshot:
            out[name] = snapshot[name]
    # user/get omits an empty manager; v2/user/list never shows one (then: as last applied).
    out[MANAGER] = (record.get(MANAGER) or None) if detailed else snapshot.get(MANAGER)
    return out


def current_state(
    live: LiveDirectory, links: Links, *, assume_unread: Collection[str] = ()
) -> CurrentState:
    """Build the engine's CurrentState from a live read; ``assume_unread`` fills the rest.

    ``assume_unread`` names what a partial read did not look at ("users", "departments"):
    those linked records are taken as their snapshots say, so they show no drift.
    """
    by_userid = links.by_userid
    users = {
        userid: observed_person(
            record,
            links.user_snapshots.get(by_userid.get(userid, ""), {}),
            detailed=userid in live.detailed,
        )
        for userid, record in live.users.items()
    }
    departments = dict(live.departments)
    if "users" in assume_unread:
        for key, userid in links.user_links.items():
            if userid not in users and userid not in live.gone:
                users[userid] = _as_person(links.user_snapshots[key])
    if "departments" in assume_unread:
        for key, dept_id in links.dept_links.items():
            if dept_id not in departments and dept_id not in live.read_departments:
                snap = links.dept_snapshots[key]
                departments[dept_id] = {name: snap.get(name) for name in DEPT_FIELDS}
    return CurrentState(
        users=users,
        departments=departments,
        dept_links=links.dept_links,
        user_links=links.user_links,
        role_links=links.role_links,
        user_roles={
            key: tuple(str(r) for r in snap.get(ROLES_KEY) or [])
            for key, snap in links.user_snapshots.items()
        },
    )


def _as_person(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in snapshot.items() if not k.startswith("_")}
    out[DEPT_LIST] = sorted(int(d) for d in snapshot.get(DEPT_LIST) or [])
    return out
