"""The translator: current directory state -> desired DingTalk state -> the minimal calls.

Level-triggered (design.md): for a dirty resource it reads what the directory says *now*, asks
the mapping engine what DingTalk should hold, and lets decide.py diff that against the snapshot
it last applied (kept on the link): read -> decide -> apply (apply.py) -> record (record.py).
A replay changes nothing; ten quick edits become one call. Network calls happen outside
database transactions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from scim_bridge.dingtalk.client import DepartmentNameTaken, DingTalkClient
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import Group, Link, User
from scim_bridge.directory.outbox import mark_changed
from scim_bridge.errors import (
    AmbiguousWrite,
    DingTalkConflict,
    DingTalkError,
    DingTalkNotFound,
    LinkConflict,
    ProjectionPaused,
)
from scim_bridge.mapping.departments import DepartmentResolver, group_key
from scim_bridge.mapping.model import (
    REMOVE,
    ROOT_DEPT_ID,
    ROOT_KEY,
    SKIP,
    DepartmentSpec,
    RoleSpec,
    UserProjection,
)
from scim_bridge.mapping.project import managed_fields, project_user, role_spec
from scim_bridge.mapping.rules import MappingRules
from scim_bridge.sync import apply, decide, guard, person_links
from scim_bridge.sync.decide import DEPT_LIST, MANAGER, Kind, Operation, Target
from scim_bridge.sync.record import (
    DEPARTMENT,
    FAILED,
    REMOVED,
    RETRYING,
    ROLE,
    ROLE_GROUP,
    SYNCED,
    USER,
    Recorder,
    link_of,
)
from scim_bridge.sync.view import DatabaseDirectory

__all__ = ["FAILED", "RETRYING", "Translator", "describe", "projection_hash"]

log = logging.getLogger("scim_bridge.sync")

#: Snapshot keys that are ours, not DingTalk user fields: the mapping output's digest, and the
#: DingTalk role ids this bridge gave the person.
PROJECTION = "_projection"
ROLES = "_roles"
#: How long a walk of the DingTalk directory serves e-mail and job-number linking.
INDEX_TTL = 600.0


@dataclass(frozen=True)
class _UserRead:
    """What the translator reads before deciding one person."""

    projection: UserProjection | None
    specs: dict[str, DepartmentSpec]
    roles: list[RoleSpec]
    link: Link | None
    manager_userid: str | None


@dataclass
class Translator:
    """Projects one resource at a time onto DingTalk: read -> decide -> apply -> record.

    The decisions are decide.py's (the same ``scim-bridge plan`` lists), the calls apply.py's,
    the bookkeeping record.py's; this class reads the inputs and holds them together.
    """

    db: Database
    client: DingTalkClient
    rules: MappingRules
    clock: Callable[[], datetime]
    #: Sees every user operation decided, before it is applied (tests compare them with plan's).
    observe: Callable[[Operation], None] | None = None
    record: Recorder = field(init=False)
    _dept_locks: dict[str, threading.Lock] = field(default_factory=dict)
    _locks_guard: threading.Lock = field(default_factory=threading.Lock)
    _indexes: dict[str, tuple[float, dict[str, str]]] = field(default_factory=dict)
    _user_locks: tuple[threading.Lock, ...] = field(
        default_factory=lambda: tuple(threading.Lock() for _ in range(256))
    )

    def __post_init__(self) -> None:
        self.record = Recorder(self.db, self.clock)
        self.client.listen(self.record.calls)  # each call's errcode and latency, audited
        self._managed = managed_fields(self.rules)

    # --- entry points ------------------------------------------------------------------------

    def sync(self, resource_type: str, resource_id: str, *, actor: str | None = None) -> None:
        """Bring DingTalk in line with one directory resource; raise DingTalkError on failure."""
        if resource_type == "User":
            self.sync_user(resource_id, actor=actor)
        elif resource_type == "Group":
            self.sync_group(resource_id, actor=actor)
        else:
            raise ValueError(f"unknown resource type {resource_type!r}")

    def sync_user(self, user_id: str, *, actor: str | None = None) -> None:
        """Create, update, move or remove one person in DingTalk."""
        # One translation of a person at a time: a department removal re-projects its members
        # inline, possibly while a pool thread holds the same person's outbox row.
        stripe = self._user_locks[zlib.crc32(user_id.encode()) % len(self._user_locks)]
        with stripe, self.record.translation("User", user_id):
            self._sync_user(user_id, actor=actor)

    def _sync_user(self, user_id: str, *, actor: str | None) -> None:
        read = self._read_user(user_id)
        projection, link = read.projection, read.link
        if projection is None or projection.action == REMOVE:
            reason = decide.DELETED_IN_IDP if projection is None else projection.reason
            self._remove_user(user_id, link, reason=reason, actor=actor)
            return
        if projection.action == SKIP:
            return
        dept_ids = sorted(
            {
                self._ensure_department(read.specs, key, actor=actor)
                for key in projection.department_keys
            }
        ) or [ROOT_DEPT_ID]
        desired: dict[str, Any] = dict(projection.fields)
        desired[DEPT_LIST] = dept_ids
        desired[MANAGER] = read.manager_userid
        # Remembered with the snapshot, so a new mapping re-projects only who changes.
        desired[PROJECTION] = projection_hash(projection)
        if link is None or link.state == REMOVED or not link.dingtalk_id or link.snapshot is None:
            # No person under this link yet: new, removed, or only a userid reserved.
            desired[ROLES] = []  # a new (or re-created) person starts with no role of ours
            self._link_person(user_id, link, projection, desired, actor=actor)
            self._wake_reports(user_id)
        else:
            desired[ROLES] = list((link.snapshot or {}).get(ROLES) or [])
            self._update_user(user_id, link, desired, actor=actor)
        if read.roles or desired[ROLES]:
            self._apply_roles(user_id, read.roles, desired, actor=actor)
        # A manager not yet in DingTalk is set once they are (scim-idp-notes §3.3).
        if waiting := decide.pending_manager(projection.manager_scim_id, read.manager_userid):
            log.info("user %s: %s", user_id, waiting)

    def _read_user(self, user_id: str) -> _UserRead:
        """Read what deciding one person needs: projection, departments, roles, links."""
        with self.db.read() as session:
            view = DatabaseDirectory(session)
            user = view.user(user_id)
            projection = project_user(user, self.rules, view) if user is not None else None
            specs: dict[str, DepartmentSpec] = {}
            if projection is not None and projection.action not in (SKIP, REMOVE):
                resolver = DepartmentResolver(self.rules, view)
                for key in projection.department_keys:
                    resolver.ensure(key)
                specs = dict(resolver.specs)
            roles = [
                spec
                for key in (projection.role_keys if projection is not None else ())
                if (spec := role_spec(key, self.rules, view)) is not None
            ]
            manager_userid = None
            if projection is not None and projection.manager_scim_id:
                manager = link_of(session, USER, projection.manager_scim_id)
                if manager is not None and manager.state == SYNCED:
                    manager_userid = manager.dingtalk_id
            link = link_of(session, USER, user_id)
        return _UserRead(projection, specs, roles, link, manager_userid)

    def sync_group(self, group_id: str, *, actor: str | None = None) -> None:
        """Rename, move, create or delete the department a group stands for."""
        with self.record.translation("Group", group_id):
            self._sync_group(group_id, actor=actor)

    def _sync_group(self, group_id: str, *, actor: str | None) -> None:
        key = group_key(group_id)
        with self.db.read() as session:
            view = DatabaseDirectory(session)
            group = view.group(group_id)
            link = link_of(session, DEPARTMENT, key)
            role = link_of(session, ROLE, key)
            as_role = role_spec(key, self.rules, view) if role is not None else None
            spec_map: dict[str, DepartmentSpec] = {}
            if group is not None and self.rules.departments.strategy == "groups":
                resolver = DepartmentResolver(self.rules, view)
                resolver.ensure(key)
                spec_map = dict(resolver.specs)
        if as_role is not None:
            self._ensure_role(as_role, actor=actor)  # a renamed group renames its role
        if key in spec_map:
            self._ensure_department(spec_map, key, actor=actor)
            return
        if link is None or link.state == REMOVED or not link.dingtalk_id:
            return
        self._remove_department(key, link, actor=actor)

    def reproject_changed(self, *, actor: str = "mapping-change", chunk: int = 500) -> int:
        """Queue exactly the users and groups whose desired state differs under the rules."""
        queued = 0
        after = ""
        while True:
            with self.db.read() as session:
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
                    for lk in session.scalars(
                        select(Link).where(Link.kind == USER, Link.key.in_(ids))
                    )
                }
                stale = []
                for uid in ids:
                    user = view.user(uid)
                    if user is None:
                        continue
                    projection = project_user(user, self.rules, view)
                    link = links.get(uid)
                    known = (link.snapshot or {}).get(PROJECTION) if link is not None else None
                    if projection.action == SKIP and (link is None or link.state == REMOVED):
                        continue
                    if projection.action == REMOVE and (link is None or link.state == REMOVED):
                        continue
                    if known != projection_hash(projection):
                        stale.append(uid)
            if stale:
                with self.db.write() as session:
                    mark_changed(session, "User", stale, actor=actor, now=self.clock())
                queued += len(stale)
        queued += self._reproject_groups(actor=actor)
        return queued

    def _reproject_groups(self, *, actor: str) -> int:
        """Queue groups whose department would be created, changed or removed."""
        with self.db.read() as session:
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
                if self.rules.departments.strategy == "groups":
                    resolver = DepartmentResolver(self.rules, view)
                    resolver.ensure(key)
                    spec = resolver.specs.get(key)
                    wanted = None if spec is None else spec.snapshot()
                linked = link is not None and link.state == SYNCED
                known = (link.snapshot or {}).get(PROJECTION) if link is not None else None
                if (wanted is None and linked) or (wanted is not None and known != _hash(wanted)):
                    stale.append(gid)
        if stale:
            with self.db.write() as session:
                mark_changed(session, "Group", stale, actor=actor, now=self.clock())
        return len(stale)

    # --- users -------------------------------------------------------------------------------

    def _link_person(
        self,
        user_id: str,
        link: Link | None,
        projection: UserProjection,
        desired: dict[str, Any],
        *,
        actor: str | None,
    ) -> None:
        """Create this SCIM user's DingTalk person, or adopt one that no other link holds.

        decide.choose_person picks the userid; each is reserved on the link before the
        DingTalk call (person_links.py), and a reservation another user wins is fed back as
        that userid's holder, so a person another SCIM user holds is never overwritten.
        """
        known = link.dingtalk_id if link is not None else None
        holders: dict[str, str] = {}
        matches: list[tuple[str, str]] | None = None
        while True:
            if matches is None and not (known and known not in holders):
                matches = self._matches(projection.link_by)
            choice = decide.choose_person(
                user_id,
                derived=projection.userid,
                known=known,
                matches=matches or (),
                exists=(),
                holders=holders,
                on_conflict=self.rules.link.on_conflict,
            )
            if choice.kind == Kind.CONFLICT:
                raise self._refusal(user_id, choice, projection, matches or [])
            existing = None
            if choice.key is not None:  # found by a link key: adopt that person as they are
                existing = self.client.find_user(choice.userid)
                if existing is None:
                    matches = []  # gone since it was found: as if nobody matched
                    continue
            holder = self._reserve(user_id, choice.userid)
            if holder is not None:
                holders[choice.userid] = holder
                continue
            with self._reserved(user_id, choice.userid, before=link):
                if existing is not None:
                    self._adopt_user(user_id, str(choice.key), existing, desired, actor=actor)
                else:
                    self._create_user(user_id, choice.userid, desired, actor=actor)
            return

    def _refusal(
        self,
        user_id: str,
        choice: decide.PersonChoice,
        projection: UserProjection,
        matches: list[tuple[str, str]],
    ) -> LinkConflict:
        """Say in words why no person was linked (docs/mapping.md, policies.link)."""
        values = dict(projection.link_by)
        if choice.holder is None:
            return LinkConflict(
                "the link keys point at different DingTalk people: "
                + ", ".join(f"{k} {values[k]} -> {u}" for k, u in matches)
                + "; fix the data in the IdP or set policies.link.on_conflict"
            )
        how = choice.reason
        if choice.key is not None:
            how = f"found by {_FIELD_WORDS.get(choice.key, choice.key)} {values[choice.key]}"
        return self._conflict(user_id, choice.userid, choice.holder, how=how)

    def _matches(self, link_by: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
        """Find the DingTalk people this one's link keys name: (key, userid) in policy order.

        Mobile through DingTalk's lookup (dingtalk-api.md §3.6); e-mail and job number, which
        DingTalk cannot look up, through an index of the whole DingTalk directory, walked at
        most every ten minutes.
        """
        values = dict(link_by)
        found: list[tuple[str, str]] = []
        for key in self.rules.link.by:
            value = values.get(key)
            if not value:
                continue
            if key == "mobile":
                userid = self.client.get_userid_by_mobile(value)
            else:
                userid = self._dingtalk_index(key).get(value.strip().lower())
            if userid is not None:
                found.append((key, userid))
        return found

    def _dingtalk_index(self, key: str) -> dict[str, str]:
        """Map lower-cased e-mail or job number to userid over the whole DingTalk directory."""
        field_name = {"email": "email", "job_number": "job_number"}.get(key)
        if field_name is None:
            return {}
        # One walk at a time; the threads that wait get its result.
        with self._lock(f"index:{key}"):
            cached = self._indexes.get(key)
            if cached is not None and time.monotonic() - cached[0] < INDEX_TTL:
                return cached[1]
            index: dict[str, str] = {}
            for person in self.client.iter_all_users():
                value = person.get(field_name)
                if value:
                    index.setdefault(str(value).strip().lower(), str(person["userid"]))
            self._indexes[key] = (time.monotonic(), index)
            return index

    def _adopt_user(
        self,
        user_id: str,
        key: str,
        existing: dict[str, Any],
        desired: dict[str, Any],
        *,
        actor: str | None,
    ) -> None:
        """Link to a person already in DingTalk and bring their fields in line."""
        userid = str(existing["userid"])
        name = str(_fields(desired).get("name") or "")
        link = Operation(Kind.LINK, Target.USER, user_id, userid, name, reason=f"matched by {key}")
        self._observed([link])
        self.record.event(
            "User", user_id, "link", userid, "ok", detail=f"matched by {key}", actor=actor
        )
        self._update_remote(user_id, userid, _as_snapshot(existing), desired, actor=actor)
        self.record.save_link(USER, user_id, userid, desired)

    def _create_user(
        self, user_id: str, userid: str, desired: dict[str, Any], *, actor: str | None
    ) -> None:
        (op,) = self._observed(
            [
                decide.create_user(
                    user_id,
                    userid,
                    _fields(desired),
                    dept_ids=desired[DEPT_LIST],
                    manager_userid=desired.get(MANAGER),
                )
            ]
        )
        try:
            sent = apply.create_person(self.client, userid, op, desired)
            self.record.event(
                "User", user_id, "create", userid, "ok", fields=sent.fields, actor=actor
            )
        except (AmbiguousWrite, DingTalkConflict) as exc:
            if isinstance(exc, DingTalkConflict) and exc.field not in (None, "userid"):
                raise
            # dingtalk-api.md §10: our userid is deterministic, so re-read before retrying.
            existing = self.client.find_user(userid)
            if existing is None:
                raise
            # Adopting is how a create that timed out after DingTalk applied it completes; a
            # person another SCIM user holds is theirs (the reservation makes this a backstop).
            with self.db.read() as session:
                holder = person_links.holder_of(session, userid, other_than=user_id)
            if holder is not None:
                raise self._conflict(user_id, userid, holder, how=f"DingTalk {exc.reason}") from exc
            self.record.event(
                "User", user_id, "adopt", userid, "ok", detail=exc.reason, actor=actor
            )
            self._update_remote(user_id, userid, _as_snapshot(existing), desired, actor=actor)
        self.record.save_link(USER, user_id, userid, desired)

    def _update_user(
        self, user_id: str, link: Link, desired: dict[str, Any], *, actor: str | None
    ) -> None:
        userid = str(link.dingtalk_id)
        try:
            self._update_remote(user_id, userid, link.snapshot or {}, desired, actor=actor)
        except DingTalkNotFound:
            # Someone removed the person in DingTalk: put them back (reconciliation).
            self._create_user(user_id, userid, desired, actor=actor)
            return
        self.record.save_link(USER, user_id, userid, desired)

    def _update_remote(
        self,
        user_id: str,
        userid: str,
        current: Mapping[str, Any],
        desired: Mapping[str, Any],
        *,
        actor: str | None,
    ) -> None:
        """Decide and send the update (fields, manager) and move one person needs."""
        ops = self._observed(
            decide.update_user(
                user_id,
                userid,
                current,
                _fields(desired),
                dept_ids=desired[DEPT_LIST],
                manager_userid=desired.get(MANAGER),
                managed=self._managed,
            )
        )
        sent = apply.update_person(self.client, userid, ops, desired)
        if sent is not None:
            self.record.event(
                "User", user_id, "update", userid, "ok", fields=sent.fields, actor=actor
            )

    def _remove_user(
        self, user_id: str, link: Link | None, *, reason: str, actor: str | None
    ) -> None:
        if link is None or link.state == REMOVED or not link.dingtalk_id:
            return
        userid = link.dingtalk_id
        with self.db.read() as session:
            holder = person_links.holder_of(session, userid, other_than=user_id)
            why = holder and person_links.unlink_words(session, user_id, userid, holder)
        name = str((link.snapshot or {}).get("name") or "")
        (op,) = self._observed(
            [decide.remove_user(user_id, userid, name, reason=reason, holder_words=why or None)]
        )
        if op.kind == Kind.UNLINK:
            # Another live link holds this person (a store from before migration 0005): their
            # account stays; only this link goes.
            self.record.event(
                "User", user_id, "unlink", userid, "ok", detail=op.reason, actor=actor
            )
            self.record.removed(USER, user_id, forget_id=True, why=op.reason)
            return
        with self.db.write() as session:
            decision = guard.propose_removal(
                session,
                user_id,
                self.rules.guard,
                now=self.clock(),
                inactive_is_removal=self.rules.leavers.action == "delete",
            )
        if not decision.allow:
            # A burst of removals waits for an operator (`scim-bridge guard confirm TOKEN`).
            raise ProjectionPaused(
                f"mass-change guard: {decision.reason}; confirm with "
                f"`scim-bridge guard confirm {decision.token}`"
            )
        existed = self.client.delete_user(userid)
        self.record.event(
            "User",
            user_id,
            "delete",
            userid,
            "ok",
            detail=reason if existed else f"{reason}; already gone from DingTalk",
            actor=actor,
        )
        # Keep the userid: a reactivated person comes back with the same one.
        self.record.removed(USER, user_id, forget_id=False)

    # --- one DingTalk person, one SCIM user (person_links.py) -----------------------------

    def _reserve(self, user_id: str, userid: str) -> str | None:
        """Hold ``userid`` for this user; return the SCIM id of the user holding it instead."""
        return person_links.reserve(self.db, user_id, userid, now=self.clock())

    @contextmanager
    def _reserved(self, user_id: str, userid: str, *, before: Link | None) -> Iterator[None]:
        """Keep a reservation while the person may exist; give it up on a definite refusal."""
        try:
            yield
        except (DingTalkError, LinkConflict) as exc:
            if not getattr(exc, "retryable", False):
                person_links.release(self.db, user_id, userid, before=before, now=self.clock())
            raise

    def _conflict(self, user_id: str, userid: str, holder: str, *, how: str) -> LinkConflict:
        with self.db.read() as session:
            return person_links.conflict(session, user_id, userid, holder, how=how)

    def _wake_reports(self, manager_id: str) -> None:
        """Re-project people whose manager just reached DingTalk."""
        with self.db.write() as session:
            reports = list(session.scalars(select(User.id).where(User.manager_id == manager_id)))
            placed = select(Link).where(Link.kind == USER, Link.key.in_(reports))
            links = {lk.key: lk for lk in session.scalars(placed)}
            waiting = [
                uid
                for uid in reports
                if uid not in links or (links[uid].snapshot or {}).get(MANAGER) is None
            ]
            mark_changed(session, "User", waiting, actor="translator", now=self.clock())

    # --- roles -------------------------------------------------------------------------------

    def _apply_roles(
        self, user_id: str, roles: list[RoleSpec], desired: dict[str, Any], *, actor: str | None
    ) -> None:
        """Give the person exactly the roles the mapping names (dingtalk-api.md §5)."""
        wanted = sorted({self._ensure_role(spec, actor=actor) for spec in roles})
        held = sorted(int(r) for r in desired.get(ROLES) or [])
        with self.db.read() as session:
            link = link_of(session, USER, user_id)
        if link is None or not link.dingtalk_id:
            return
        userid = link.dingtalk_id
        op = decide.set_roles(user_id, userid, "", held=held, wanted=wanted)
        if op is not None:
            self._observed([op])
            added, removed = apply.set_roles(self.client, userid, op)
            for action, ids in (("add_roles", added), ("remove_roles", removed)):
                if ids:
                    fields = {"role_ids": ids}
                    self.record.event(
                        "User", user_id, action, userid, "ok", fields=fields, actor=actor
                    )
        if op is not None or held != wanted:
            desired[ROLES] = wanted
            self.record.save_link(USER, user_id, userid, desired)

    def _ensure_role(self, spec: RoleSpec, *, actor: str | None) -> int:
        """Return the role id for a role key, creating its role group and role if needed."""
        with self._lock(f"role:{spec.key}"):
            with self.db.read() as session:
                link = link_of(session, ROLE, spec.key)
            if link is not None and link.state == SYNCED and link.dingtalk_id:
                role_id = int(link.dingtalk_id)
                if (link.snapshot or {}).get("name") != spec.name:
                    # The group was renamed in the IdP: so is its role.
                    self.client.update_role(role_id, spec.name)
                    self.record.event(
                        "Role",
                        spec.key,
                        "update",
                        str(role_id),
                        "ok",
                        fields={"name": spec.name},
                        actor=actor,
                    )
                    self.record.save_link(ROLE, spec.key, str(role_id), spec.snapshot())
                return role_id
            group_id = self._ensure_role_group(spec.group_name, actor=actor)
            role_id = self.client.add_role(spec.name, group_id)
            self.record.event(
                "Role", spec.key, "create", str(role_id), "ok", fields=spec.snapshot(), actor=actor
            )
            self.record.save_link(ROLE, spec.key, str(role_id), spec.snapshot())
            return role_id

    def _ensure_role_group(self, name: str, *, actor: str | None) -> int:
        key = f"role-group:{name}"
        with self._lock(key):
            with self.db.read() as session:
                link = link_of(session, ROLE_GROUP, key)
            if link is not None and link.state == SYNCED and link.dingtalk_id:
                return int(link.dingtalk_id)
            group_id = self.client.add_role_group(name)
            self.record.event(
                "Role", key, "create", str(group_id), "ok", fields={"name": name}, actor=actor
            )
            self.record.save_link(ROLE_GROUP, key, str(group_id), {"name": name})
            return group_id

    # --- departments -------------------------------------------------------------------------

    def _lock(self, key: str) -> threading.Lock:
        with self._locks_guard:
            return self._dept_locks.setdefault(key, threading.Lock())

    def _ensure_department(
        self, specs: Mapping[str, DepartmentSpec], key: str, *, actor: str | None
    ) -> int:
        """Return the dept_id for a department key, creating or updating it (parents first)."""
        if key == ROOT_KEY:
            return ROOT_DEPT_ID
        spec = specs[key]
        parent_id = (
            ROOT_DEPT_ID
            if spec.parent_key in (None, ROOT_KEY)
            else self._ensure_department(specs, str(spec.parent_key), actor=actor)
        )
        want = {
            "name": spec.name,
            "parent_id": parent_id,
            "source_identifier": spec.source_identifier,
            "order": spec.order,
            PROJECTION: _hash(spec.snapshot()),
        }
        with self._lock(key):
            with self.db.read() as session:
                link = link_of(session, DEPARTMENT, key)
            if link is not None and link.state == SYNCED and link.dingtalk_id:
                dept_id = int(link.dingtalk_id)
                old = link.snapshot or {}
                changes = {
                    k: v
                    for k, v in want.items()
                    if old.get(k) != v and v is not None and k != PROJECTION
                }
                if changes:
                    try:
                        self.client.update_department(dept_id, changes)
                    except DingTalkNotFound:
                        dept_id = self._create_department(key, want, actor=actor)
                    else:
                        self.record.event(
                            "Department",
                            key,
                            "update",
                            str(dept_id),
                            "ok",
                            fields=changes,
                            actor=actor,
                        )
                if changes or old.get(PROJECTION) != want[PROJECTION]:
                    self.record.save_link(DEPARTMENT, key, str(dept_id), want)
                return dept_id
            dept_id = self._create_department(key, want, actor=actor)
            self.record.save_link(DEPARTMENT, key, str(dept_id), want)
            return dept_id

    def _create_department(self, key: str, want: Mapping[str, Any], *, actor: str | None) -> int:
        try:
            dept_id = self.client.create_department(
                want["name"],
                want["parent_id"],
                order=want["order"],
                source_identifier=want["source_identifier"],
            )
            self.record.event(
                "Department", key, "create", str(dept_id), "ok", fields=dict(want), actor=actor
            )
            return dept_id
        except DepartmentNameTaken as exc:
            if exc.dept_id is None:
                raise
            # dingtalk-api.md §10: (parent, name) is the natural key; adopt the sibling.
            self.record.event(
                "Department", key, "adopt", str(exc.dept_id), "ok", detail=exc.reason, actor=actor
            )
            return int(exc.dept_id)
        except AmbiguousWrite:
            found = self.client.find_department(
                want["parent_id"], name=want["name"], source_identifier=want["source_identifier"]
            )
            if found is None:
                raise
            dept_id = int(found["dept_id"])
            self.record.event(
                "Department",
                key,
                "adopt",
                str(dept_id),
                "ok",
                detail="after a timeout",
                actor=actor,
            )
            return dept_id

    def _remove_department(self, key: str, link: Link, *, actor: str | None) -> None:
        dept_id = int(str(link.dingtalk_id))
        # Members move out first (design.md): anyone still placed here is re-projected now.
        with self.db.read() as session:
            placed = [
                lk.key
                # Every live link, not only synced ones: a person whose last update failed
                # (retrying) is still placed where their snapshot says.
                for lk in session.scalars(
                    select(Link).where(Link.kind == USER, Link.state != REMOVED)
                )
                if dept_id in ((lk.snapshot or {}).get(DEPT_LIST) or [])
            ]
        for user_id in placed:
            self.sync_user(user_id, actor=actor)
        existed = self.client.delete_department(dept_id)
        self.record.event(
            "Department",
            key,
            "delete",
            str(dept_id),
            "ok",
            detail=None if existed else "already gone from DingTalk",
            actor=actor,
        )
        with self.db.write() as session:
            row = link_of(session, DEPARTMENT, key)
            if row is not None:
                row.state, row.snapshot = REMOVED, None
                row.dingtalk_id = None
                row.updated_at = self.clock()

    # --- bookkeeping (record.py) -----------------------------------------------------------

    def record_failure(
        self, resource_type: str, resource_id: str, exc: Exception, *, state: str, attempt: int
    ) -> None:
        """Note a failed attempt on the link and in the audit trail."""
        self.record.failure(resource_type, resource_id, exc, state=state, attempt=attempt)

    def _observed(self, ops: Iterable[Operation]) -> list[Operation]:
        """Show each decided operation to the observer (the plan-equivalence test), in order."""
        out = list(ops)
        if self.observe is not None:
            for op in out:
                self.observe(op)
        return out


def _hash(snapshot: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(snapshot, sort_keys=True, default=str).encode()).hexdigest()


def projection_hash(projection: UserProjection) -> str:
    """Return a stable digest of what the mapping wants for one user."""
    return _hash(projection.snapshot())


def _fields(desired: Mapping[str, Any]) -> dict[str, Any]:
    """Return the DingTalk user fields of a desired snapshot (not departments, manager, ours)."""
    return {
        k: v for k, v in desired.items() if k not in (DEPT_LIST, MANAGER) and not k.startswith("_")
    }


def _as_snapshot(remote: Mapping[str, Any]) -> dict[str, Any]:
    """Turn a user/get answer into the shape of our snapshots, to diff against."""
    out = {k: v for k, v in remote.items() if k not in ("userid", "unionid", "unionId")}
    depts = remote.get(DEPT_LIST)
    if isinstance(depts, list):
        out[DEPT_LIST] = sorted(int(d) for d in depts)
    return out


#: Plain words for the dead-letter list, by the field a DingTalk error names.
_FIELD_WORDS = {
    "mobile": "the mobile number",
    "email": "the e-mail address",
    "userid": "the DingTalk userid",
    "name": "the name",
    "telephone": "the extension number",
    "dept_id": "the department",
    "parent_id": "the parent department",
    "manager_userid": "the manager",
}


def describe(exc: Exception) -> str:
    """Say in plain words why a change could not be projected, and what to do."""
    if isinstance(exc, LinkConflict):
        return f"{exc.message}, then `scim-bridge dlq retry`"
    if isinstance(exc, DingTalkConflict):
        what = _FIELD_WORDS.get(exc.field or "", exc.field or "a unique value")
        return (
            f"DingTalk already has another person with {what} (code {exc.reason}); "
            "fix the value in the IdP, then `scim-bridge dlq retry`"
        )
    if isinstance(exc, DingTalkError) and not exc.retryable and exc.field:
        what = _FIELD_WORDS.get(exc.field, exc.field)
        return f"DingTalk rejected {what} (code {exc.reason}): {exc.message}; fix it in the IdP"
    if isinstance(exc, DingTalkError):
        return f"DingTalk answered {exc.reason}: {exc.message}".rstrip(": ")
    return f"{type(exc).__name__}: {exc}"
