"""After a mapping change, queue exactly the users and groups whose desired state differs.

Each link remembers the digest of the projection it applied (decide_snapshots.py); a resource
whose digest under the new rules differs is marked changed in the outbox, and the translator
re-projects it like any other change.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select

from scim_bridge.directory.db import Database
from scim_bridge.directory.models import Group, Link, User
from scim_bridge.directory.outbox import Lane, mark_changed
from scim_bridge.mapping.departments import DepartmentResolver, group_key
from scim_bridge.mapping.project import project_user
from scim_bridge.mapping.rules import MappingRules
from scim_bridge.sync.decide_snapshots import PROJECTION, group_is_stale, user_is_stale
from scim_bridge.sync.record import DEPARTMENT, REMOVED, SYNCED, USER
from scim_bridge.sync.view import DatabaseDirectory


def reproject_changed(
    db: Database,
    rules: MappingRules,
    *,
    now: Callable[[], datetime],
    actor: str = "mapping-change",
    chunk: int = 500,
) -> int:
    """Queue the users and groups whose projection changed under ``rules``; return how many."""
    queued = 0
    after = ""
    while True:
        with db.read() as session:
            ids = list(
                session.scalars(
                    select(User.id).where(User.id > after).order_by(User.id).limit(chunk)
                )
            )
            if not ids:
                break
            after = ids[-1]
            view = DatabaseDirectory(session)
            links = {
                lk.key: lk
                for lk in session.scalars(select(Link).where(Link.kind == USER, Link.key.in_(ids)))
            }
            stale = []
            for uid in ids:
                user = view.user(uid)
                if user is None:
                    continue
                link = links.get(uid)
                live = link is not None and link.state != REMOVED
                known = (link.snapshot or {}).get(PROJECTION) if link is not None else None
                if user_is_stale(project_user(user, rules, view), live=live, known=known):
                    stale.append(uid)
        if stale:
            with db.write() as session:
                # Bulk work (issue 14): edits and leavers from the IdPs go first.
                mark_changed(session, "User", stale, actor=actor, now=now(), lane=Lane.BULK)
            queued += len(stale)
    return queued + _reproject_groups(db, rules, now=now, actor=actor)


def _reproject_groups(
    db: Database, rules: MappingRules, *, now: Callable[[], datetime], actor: str
) -> int:
    """Queue groups whose department would be created, changed or removed."""
    with db.read() as session:
        view = DatabaseDirectory(session)
        group_ids = list(session.scalars(select(Group.id)))
        links = {
            lk.key: lk
            for lk in session.scalars(
                select(Link).where(Link.kind == DEPARTMENT, Link.key.like("group:%"))
            )
        }
        stale = []
        for gid in group_ids:
            key = group_key(gid)
            link = links.get(key)
            wanted = None
            if rules.departments.strategy == "groups":
                resolver = DepartmentResolver(rules, view)
                resolver.ensure(key)
                spec = resolver.specs.get(key)
                wanted = None if spec is None else spec.snapshot()
            synced = link is not None and link.state == SYNCED
            known = (link.snapshot or {}).get(PROJECTION) if link is not None else None
            if group_is_stale(wanted, synced=synced, known=known):
                stale.append(gid)
    if stale:
        with db.write() as session:
            mark_changed(session, "Group", stale, actor=actor, now=now(), lane=Lane.BULK)
    return len(stale)
