"""The translator: current directory state -> desired DingTalk state -> the minimal calls.

Level-triggered (design.md): for a dirty resource it reads what the directory says *now*, asks
the mapping engine what DingTalk should hold, diffs that against the snapshot it last applied
(kept on the link), and makes only the calls that close the gap. A replay changes nothing;
ten quick edits become one call. Network calls happen outside database transactions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scim_bridge.dingtalk.client import DepartmentNameTaken, DingTalkClient
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import Group, Link, SyncEvent, User
from scim_bridge.directory.outbox import mark_changed
from scim_bridge.errors import (
    AmbiguousWrite,
    DingTalkConflict,
    DingTalkError,
    DingTalkNotFound,
    LinkConflict,
    ProjectionPaused,
)
from scim_bridge.mapping.attributes import userid_choices
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
from scim_bridge.mapping.project import project_user, role_spec
from scim_bridge.mapping.rules import MappingRules
from scim_bridge.sync import guard, person_links
from scim_bridge.sync.failures import failure_words
from scim_bridge.sync.view import DatabaseDirectory

log = logging.getLogger("scim_bridge.sync")

USER, DEPARTMENT, ROLE, ROLE_GROUP = "user", "department", "role", "role_group"
SYNCED, REMOVED, FAILED, RETRYING = "synced", "removed", "failed", "retrying"
#: DingTalk user fields cleared by sending an empty string when the mapping drops them.
MANAGER = "manager_userid"
DEPT_LIST = "dept_id_list"
#: Snapshot keys that are ours, not DingTalk user fields: the mapping output's digest, and the
#: DingTalk role ids this bridge gave the person.
PROJECTION = "_projection"
ROLES = "_roles"
#: How long a walk of the DingTalk directory serves e-mail and job-number linking.
INDEX_TTL = 600.0


@dataclass
class Translator:
    """Projects one resource at a time onto DingTalk through the client."""

    db: Database
    client: DingTalkClient
    rules: MappingRules
    clock: Callable[[], datetime]
    _dept_locks: dict[str, threading.Lock] = field(default_factory=dict)
    _locks_guard: threading.Lock = field(default_factory=threading.Lock)
    _local: threading.local = field(default_factory=threading.local)
    _indexes: dict[str, tuple[float, dict[str, str]]] = field(default_factory=dict)
    _user_locks: tuple[threading.Lock, ...] = field(
        default_factory=lambda: tuple(threading.Lock() for _ in range(256))
    )

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
        with stripe, self._translation():
            self._sync_user(user_id, actor=actor)

    def _sync_user(self, user_id: str, *, actor: str | None) -> None:
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
            link = _link(session, USER, user_id)
            manager_userid = None
            if projection is not None and projection.manager_scim_id:
                manager = _link(session, USER, projection.manager_scim_id)
                if manager is not None and manager.state == SYNCED:
                    manager_userid = manager.dingtalk_id
        if projection is None or projection.action == REMOVE:
            reason = "deleted in the IdP" if projection is None else projection.reason
            self._remove_user(user_id, link, reason=reason, actor=actor)
            return
        if projection.action == SKIP:
            return
        dept_ids = sorted(
            {self._ensure_department(specs, key, actor=actor) for key in projection.department_keys}
        ) or [ROOT_DEPT_ID]
        desired: dict[str, Any] = dict(projection.fields)
        desired[DEPT_LIST] = dept_ids
        desired[MANAGER] = manager_userid
        # Remembered with the snapshot, so a new mapping re-projects only who changes.
        desired[PROJECTION] = projection_hash(projection)
        # A manager not yet in DingTalk is set once they are (scim-idp-notes §3.3).
        pending_manager = projection.manager_scim_id if manager_userid is None else None
        if link is None or link.state == REMOVED or not link.dingtalk_id or link.snapshot is None:
            # No person under this link yet: new, removed, or only a userid reserved.
            desired[ROLES] = []  # a new (or re-created) person starts with no role of ours
            self._link_person(user_id, link, projection, desired, actor=actor)
            self._wake_reports(user_id)
        else:
            desired[ROLES] = list((link.snapshot or {}).get(ROLES) or [])
            self._update_user(user_id, link, desired, actor=actor)
        if roles or desired[ROLES]:
            self._apply_roles(user_id, roles, desired, actor=actor)
        if pending_manager:
            log.info("user %s waits for manager %s to reach DingTalk", user_id, pending_manager)

    def sync_group(self, group_id: str, *, actor: str | None = None) -> None:
        """Rename, move, create or delete the department a group stands for."""
        with self._translation():
            self._sync_group(group_id, actor=actor)

    def _sync_group(self, group_id: str, *, actor: str | None) -> None:
        key = group_key(group_id)
        with self.db.read() as session:
            view = DatabaseDirectory(session)
            group = view.group(group_id)
            link = _link(session, DEPARTMENT, key)
            role = _link(session, ROLE, key)
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

        Each userid is reserved on the link before the DingTalk call (person_links.py), so a
        person another SCIM user holds is never overwritten, whatever the IdPs send.
        """
        known = link.dingtalk_id if link is not None else None
        if known and self._reserve(user_id, known) is None:
            # The userid this user had: a leaver coming back, or a create to finish.
            with self._reserved(user_id, known, before=link):
                self._create_user(user_id, known, desired, actor=actor)
            return
        match = self._existing_person(projection.link_by)
        if match is not None:
            key, existing = match
            userid = str(existing["userid"])
            holder = self._reserve(user_id, userid)
            if holder is None:
                with self._reserved(user_id, userid, before=link):
                    self._adopt_user(user_id, key, existing, desired, actor=actor)
                return
            if self.rules.link.on_conflict != "create":
                value = dict(projection.link_by)[key]
                how = f"found by {_FIELD_WORDS.get(key, key)} {value}"
                raise self._conflict(user_id, userid, holder, how=how)
            # on_conflict "create": a person of its own, as the policy asks (docs/mapping.md).
        # The derived userid, or, when another link holds it, this user's own (mapping/attributes).
        held: list[tuple[str, str]] = []
        for userid in userid_choices(projection.userid, user_id):
            holder = self._reserve(user_id, userid)
            if holder is None:
                with self._reserved(user_id, userid, before=link):
                    self._create_user(user_id, userid, desired, actor=actor)
                return
            held.append((userid, holder))
        raise self._conflict(user_id, *held[-1], how="the userid derived for it")

    def _existing_person(
        self, link_by: tuple[tuple[str, str], ...]
    ) -> tuple[str, dict[str, Any]] | None:
        """Find the DingTalk person this one should be linked to, and the key that found them.

        Keys are tried in the order of ``policies.link.by`` (docs/mapping.md): mobile through
        DingTalk's lookup (dingtalk-api.md §3.6); e-mail and job number, which DingTalk cannot
        look up, through an index of the whole DingTalk directory, walked at most every ten
        minutes. Whether another SCIM user holds that person is the reservation's to say.
        """
        policy = self.rules.link
        values = dict(link_by)
        found: list[tuple[str, str]] = []  # (key, userid) in policy order
        for key in policy.by:
            value = values.get(key)
            if not value:
                continue
            if key == "mobile":
                userid = self.client.get_userid_by_mobile(value)
            else:
                userid = self._dingtalk_index(key).get(value.strip().lower())
            if userid is not None:
                found.append((key, userid))
        people = list(dict.fromkeys(u for _, u in found))
        if len(people) > 1:
            # The keys point at different people (docs/mapping.md, policies.link.on_conflict).
            if policy.on_conflict == "create":
                return None
            if policy.on_conflict == "skip":
                raise LinkConflict(
                    "the link keys point at different DingTalk people: "
                    + ", ".join(f"{k} {values[k]} -> {u}" for k, u in found)
                    + "; fix the data in the IdP or set policies.link.on_conflict"
                )
            people = people[:1]  # "first": the person the first key found
        if not people:
            return None
        existing = self.client.find_user(people[0])
        if existing is None:
            return None
        return next(k for k, u in found if u == people[0]), existing

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
        self._event("User", user_id, "link", userid, "ok", detail=f"matched by {key}", actor=actor)
        self._update_remote(user_id, userid, _as_snapshot(existing), desired, actor=actor)
        self._save_link(USER, user_id, userid, desired)

    def _create_user(
        self, user_id: str, userid: str, desired: dict[str, Any], *, actor: str | None
    ) -> None:
        fields = {
            k: v
            for k, v in desired.items()
            if v not in (None, "", [], {}) and not k.startswith("_")
        }
        fields["userid"] = userid
        try:
            self.client.create_user(fields)
            self._event("User", user_id, "create", userid, "ok", fields=fields, actor=actor)
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
            self._event("User", user_id, "adopt", userid, "ok", detail=exc.reason, actor=actor)
            self._update_remote(user_id, userid, _as_snapshot(existing), desired, actor=actor)
        self._save_link(USER, user_id, userid, desired)

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
        self._save_link(USER, user_id, userid, desired)

    def _update_remote(
        self,
        user_id: str,
        userid: str,
        current: Mapping[str, Any],
        desired: Mapping[str, Any],
        *,
        actor: str | None,
    ) -> None:
        changes: dict[str, Any] = {}
        for name, value in desired.items():
            old = current.get(name)
            if name == MANAGER or name.startswith("_") or value == old:
                continue
            if value in (None, "", [], {}):
                if old not in (None, "", [], {}):
                    changes[name] = "" if not isinstance(old, list | dict) else value
                continue
            changes[name] = value
        clear_manager = False
        if desired.get(MANAGER) != current.get(MANAGER):
            if desired.get(MANAGER):
                changes[MANAGER] = desired[MANAGER]
            elif current.get(MANAGER):
                clear_manager = True
        if not changes and not clear_manager:
            return
        self.client.update_user(userid, changes, clear_manager=clear_manager)
        self._event("User", user_id, "update", userid, "ok", fields=changes, actor=actor)

    def _remove_user(
        self, user_id: str, link: Link | None, *, reason: str, actor: str | None
    ) -> None:
        if link is None or link.state == REMOVED or not link.dingtalk_id:
            return
        with self.db.read() as session:
            holder = person_links.holder_of(session, link.dingtalk_id, other_than=user_id)
            why = holder and person_links.unlink_words(session, user_id, link.dingtalk_id, holder)
        if why:
            # Another live link holds this person (a store from before migration 0005): their
            # account stays; only this link goes.
            self._unlink(user_id, link.dingtalk_id, why, actor=actor)
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
        existed = self.client.delete_user(link.dingtalk_id)
        self._event(
            "User",
            user_id,
            "delete",
            link.dingtalk_id,
            "ok",
            detail=reason if existed else f"{reason}; already gone from DingTalk",
            actor=actor,
        )
        with self.db.write() as session:
            row = _link(session, USER, user_id)
            if row is not None:
                # Keep the userid: a reactivated person comes back with the same one.
                row.state, row.snapshot, row.last_error = REMOVED, None, None
                row.last_synced_at = row.updated_at = self.clock()

    def _unlink(self, user_id: str, userid: str, why: str, *, actor: str | None) -> None:
        self._event("User", user_id, "unlink", userid, "ok", detail=why, actor=actor)
        with self.db.write() as session:
            row = _link(session, USER, user_id)
            if row is not None:
                row.state, row.snapshot, row.dingtalk_id, row.last_error = REMOVED, None, None, why
                row.updated_at = self.clock()

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
            link = _link(session, USER, user_id)
        if link is None or not link.dingtalk_id:
            return
        userid = link.dingtalk_id
        added = [r for r in wanted if r not in held]
        removed = [r for r in held if r not in wanted]
        if added:
            self.client.add_roles_for_users(added, [userid])
            self._event(
                "User", user_id, "add_roles", userid, "ok", fields={"role_ids": added}, actor=actor
            )
        if removed:
            self.client.remove_roles_for_users(removed, [userid])
            self._event(
                "User",
                user_id,
                "remove_roles",
                userid,
                "ok",
                fields={"role_ids": removed},
                actor=actor,
            )
        if added or removed or held != wanted:
            desired[ROLES] = wanted
            self._save_link(USER, user_id, userid, desired)

    def _ensure_role(self, spec: RoleSpec, *, actor: str | None) -> int:
        """Return the role id for a role key, creating its role group and role if needed."""
        with self._lock(f"role:{spec.key}"):
            with self.db.read() as session:
                link = _link(session, ROLE, spec.key)
            if link is not None and link.state == SYNCED and link.dingtalk_id:
                role_id = int(link.dingtalk_id)
                if (link.snapshot or {}).get("name") != spec.name:
                    # The group was renamed in the IdP: so is its role.
                    self.client.update_role(role_id, spec.name)
                    self._event(
                        "Role",
                        spec.key,
                        "update",
                        str(role_id),
                        "ok",
                        fields={"name": spec.name},
                        actor=actor,
                    )
                    self._save_link(ROLE, spec.key, str(role_id), spec.snapshot())
                return role_id
            group_id = self._ensure_role_group(spec.group_name, actor=actor)
            role_id = self.client.add_role(spec.name, group_id)
            self._event(
                "Role", spec.key, "create", str(role_id), "ok", fields=spec.snapshot(), actor=actor
            )
            self._save_link(ROLE, spec.key, str(role_id), spec.snapshot())
            return role_id

    def _ensure_role_group(self, name: str, *, actor: str | None) -> int:
        key = f"role-group:{name}"
        with self._lock(key):
            with self.db.read() as session:
                link = _link(session, ROLE_GROUP, key)
            if link is not None and link.state == SYNCED and link.dingtalk_id:
                return int(link.dingtalk_id)
            group_id = self.client.add_role_group(name)
            self._event(
                "Role", key, "create", str(group_id), "ok", fields={"name": name}, actor=actor
            )
            self._save_link(ROLE_GROUP, key, str(group_id), {"name": name})
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
                link = _link(session, DEPARTMENT, key)
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
                        self._event(
                            "Department",
                            key,
                            "update",
                            str(dept_id),
                            "ok",
                            fields=changes,
                            actor=actor,
                        )
                if changes or old.get(PROJECTION) != want[PROJECTION]:
                    self._save_link(DEPARTMENT, key, str(dept_id), want)
                return dept_id
            dept_id = self._create_department(key, want, actor=actor)
            self._save_link(DEPARTMENT, key, str(dept_id), want)
            return dept_id

    def _create_department(self, key: str, want: Mapping[str, Any], *, actor: str | None) -> int:
        try:
            dept_id = self.client.create_department(
                want["name"],
                want["parent_id"],
                order=want["order"],
                source_identifier=want["source_identifier"],
            )
            self._event(
                "Department", key, "create", str(dept_id), "ok", fields=dict(want), actor=actor
            )
            return dept_id
        except DepartmentNameTaken as exc:
            if exc.dept_id is None:
                raise
            # dingtalk-api.md §10: (parent, name) is the natural key; adopt the sibling.
            self._event(
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
            self._event(
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
                for lk in session.scalars(
                    select(Link).where(Link.kind == USER, Link.state == SYNCED)
                )
                if dept_id in ((lk.snapshot or {}).get(DEPT_LIST) or [])
            ]
        for user_id in placed:
            self.sync_user(user_id, actor=actor)
        existed = self.client.delete_department(dept_id)
        self._event(
            "Department",
            key,
            "delete",
            str(dept_id),
            "ok",
            detail=None if existed else "already gone from DingTalk",
            actor=actor,
        )
        with self.db.write() as session:
            row = _link(session, DEPARTMENT, key)
            if row is not None:
                row.state, row.snapshot = REMOVED, None
                row.dingtalk_id = None
                row.updated_at = self.clock()

    # --- bookkeeping -------------------------------------------------------------------------

    def _save_link(
        self, kind: str, key: str, dingtalk_id: str, snapshot: Mapping[str, Any]
    ) -> None:
        now = self.clock()
        events: list[SyncEvent] = getattr(self._local, "events", None) or []
        try:
            with self.db.write() as session:
                session.add_all(events)
                row = _link(session, kind, key)
                if row is None:
                    row = Link(kind=kind, key=key, attempts=0, updated_at=now)
                    session.add(row)
                row.dingtalk_id = dingtalk_id
                row.snapshot = dict(snapshot)
                row.state = SYNCED
                row.last_error = None
                row.attempts = 0
                row.last_synced_at = row.updated_at = now
        except IntegrityError:
            # One live link per DingTalk person (migration 0005): never retried in a loop.
            with self.db.read() as session:
                holder = person_links.holder_of(session, dingtalk_id, other_than=key)
            if kind != USER or holder is None:
                raise
            raise self._conflict(key, dingtalk_id, holder, how="recording the link") from None
        events.clear()  # written with the link; kept for the end of the translation if not

    def record_failure(
        self, resource_type: str, resource_id: str, exc: Exception, *, state: str, attempt: int
    ) -> None:
        """Note a failed attempt on the link and in the audit trail."""
        kind = USER if resource_type == "User" else DEPARTMENT
        key = resource_id if kind == USER else group_key(resource_id)
        reason = failure_words(exc)  # what SCIM clients see as sync.lastError: words only
        now = self.clock()
        with self.db.write() as session:
            row = _link(session, kind, key)
            if row is None:
                row = Link(kind=kind, key=key, state=state, attempts=0, updated_at=now)
                session.add(row)
            if row.state != REMOVED:
                # A removed link stays removed: its userid may be another user's by now.
                row.state = state if row.state != SYNCED or state == FAILED else row.state
            row.last_error = reason
            row.attempts = attempt
            row.updated_at = now
        code = exc.reason if isinstance(exc, DingTalkError) else type(exc).__name__
        outcome = {FAILED: "failed", "throttled": "throttled", "paused": "paused"}.get(
            state, "retry"
        )
        self._event(
            resource_type,
            resource_id,
            "sync",
            None,
            outcome,
            code=code,
            detail=reason,
            attempt=attempt,
        )

    def _event(
        self,
        resource_type: str,
        resource_id: str,
        action: str,
        dingtalk_id: str | None,
        outcome: str,
        *,
        fields: Mapping[str, Any] | None = None,
        detail: str | None = None,
        code: str | None = None,
        actor: str | None = None,
        attempt: int = 0,
    ) -> None:
        log.info(
            "%s %s %s -> %s %s %s",
            action,
            resource_type,
            resource_id,
            dingtalk_id,
            outcome,
            detail or "",
        )
        event = SyncEvent(
            at=self.clock(),
            resource_type=resource_type,
            resource_id=resource_id,
            action=action,
            dingtalk_id=dingtalk_id,
            outcome=outcome,
            code=code,
            detail=detail,
            fields=dict(fields) if fields else None,
            actor=actor,
            attempt=attempt,
        )
        pending = getattr(self._local, "events", None)
        if pending is not None:
            # Inside a translation: written with the link it concerns, one transaction.
            pending.append(event)
            return
        with self.db.write() as session:
            session.add(event)

    @contextmanager
    def _translation(self) -> Iterator[None]:
        """Collect the audit events of one translation; whatever is left is written at the end."""
        outer = getattr(self._local, "events", None) is not None
        if not outer:
            self._local.events = []
        try:
            yield
        finally:
            if not outer:
                events, self._local.events = self._local.events, None
                if events:
                    with self.db.write() as session:
                        session.add_all(events)


def _hash(snapshot: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(snapshot, sort_keys=True, default=str).encode()).hexdigest()


def projection_hash(projection: UserProjection) -> str:
    """Return a stable digest of what the mapping wants for one user."""
    return _hash(projection.snapshot())


def _link(session: Session, kind: str, key: str) -> Link | None:
    return session.scalar(select(Link).where(Link.kind == kind, Link.key == key))


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
