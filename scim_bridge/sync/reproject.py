"""After a mapping change, queue exactly the users and groups whose desired state differs.

Each link remembers the digest of the projection it applied (decide_snapshots.py); a resource
whose digest under the new rules differs is marked changed in the outbox, and the translator
re-projects it like any other change.

A full pass reads and projects every user: minutes of CPU at 100,000 people, beside the API.
So a pass that completes records the rules (and the build) it checked under, and a translator
that starts under the same ones skips it (``reproject_on_start``): only a mapping or an upgrade
changes what a link should hold; the IdPs' own changes come through the outbox.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scim_bridge import __version__
from scim_bridge.directory.bridge_state import store, stored
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import DeadLetter, Group, Link, OutboxEntry, User
from scim_bridge.directory.outbox import Lane, mark_changed
from scim_bridge.mapping.departments import DepartmentResolver, group_key
from scim_bridge.mapping.project import project_user
from scim_bridge.mapping.rules import MappingRules
from scim_bridge.sync.decide_snapshots import PROJECTION, group_is_stale, user_is_stale
from scim_bridge.sync.record import DEPARTMENT, REMOVED, SYNCED, USER
from scim_bridge.sync.view import DatabaseDirectory

#: bridge_state: the rules and the build under which a full pass last checked every link.
CHECKED_UNDER = "projection.checked_under"


def checked_under(rules: MappingRules) -> dict[str, str]:
    """What a full pass under ``rules`` by this build records (and a start compares)."""
    return {"rules": rules.fingerprint, "build": __version__}


def reproject_on_start(
    db: Database, rules: MappingRules, *, now: Callable[[], datetime], actor: str = "mapping-change"
) -> int:
    """On a translator's start: queue whoever the mapping changed for while it was down.

    Skips the pass when the last full one ran under these rules and this build, or when nothing
    was ever applied and every resource is still queued or dead-lettered (a new store): then no
    link can be stale. Returns how many resources were queued."""
    with db.read() as session:
        stamp = stored(session, CHECKED_UNDER)
        if stamp == checked_under(rules):
            return 0
        fresh = stamp is None and _nothing_applied_yet(session)
    if fresh:
        _record_checked(db, rules, now=now)
        return 0
    return reproject_changed(db, rules, now=now, actor=actor)


def _nothing_applied_yet(session: Session) -> bool:
    """Say whether no link exists and every user and group waits in the outbox or is
    dead-lettered: what the translator has not seen yet, it will project under these rules."""
    if session.scalar(select(Link.key).limit(1)) is not None:
        return False
    for model, kind in ((User, "User"), (Group, "Group")):
        queued = select(OutboxEntry.id).where(
            OutboxEntry.resource_type == kind, OutboxEntry.resource_id == model.id
        )
        lettered = select(DeadLetter.id).where(
            DeadLetter.resource_type == kind, DeadLetter.resource_id == model.id
        )
        unseen = select(model.id).where(~queued.exists(), ~lettered.exists()).limit(1)
        if session.scalar(unseen) is not None:
            return False
    return True


def _record_checked(db: Database, rules: MappingRules, *, now: Callable[[], datetime]) -> None:
    """Record that every link was checked under ``rules`` by this build."""
    try:
        with db.write() as session:
            store(session, CHECKED_UNDER, checked_under(rules), now=now())
    except IntegrityError:
        pass  # another worker (scale-out) recorded it first, for the same or newer rules


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
    queued += _reproject_groups(db, rules, now=now, actor=actor)
    _record_checked(db, rules, now=now)
    return queued


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
