"""The translator: current directory state -> desired DingTalk state -> the minimal calls.

Level-triggered (design.md): for a dirty resource it reads what the directory says *now*, asks
the mapping engine what DingTalk should hold, and lets the decision modules (decide*.py, the
same ``scim-bridge plan`` uses) diff that against the snapshot it last applied (kept on the
link): read -> decide -> apply (apply*.py) -> record (record.py). A replay changes nothing; ten
quick edits become one call. Network calls happen outside database transactions.

This module reads and holds the steps together; departments and roles are
translate_structure.py's, people (link, create, update, remove) translate_people.py's.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, select

from scim_bridge.dingtalk.client import DingTalkClient
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import Link, User
from scim_bridge.directory.outbox import Lane, mark_changed
from scim_bridge.mapping.departments import DepartmentResolver, group_key
from scim_bridge.mapping.model import REMOVE, SKIP, DepartmentSpec, RoleSpec, UserProjection
from scim_bridge.mapping.project import project_user, role_group_passes, role_spec
from scim_bridge.mapping.rules import MappingRules
from scim_bridge.sync import decide, reproject
from scim_bridge.sync.decide import Operation
from scim_bridge.sync.decide_snapshots import (
    HELD_ROLES,
    desired_person,
    has_person,
    held_roles,
    projection_hash,
    reports_waiting,
)
from scim_bridge.sync.record import (
    DEPARTMENT,
    FAILED,
    REMOVED,
    RETRYING,
    ROLE,
    SYNCED,
    USER,
    Recorder,
    link_of,
)
from scim_bridge.sync.translate_people import People
from scim_bridge.sync.translate_structure import KeyedLocks, Structure
from scim_bridge.sync.view import DatabaseDirectory

__all__ = ["FAILED", "RETRYING", "Translator", "projection_hash"]

log = logging.getLogger("scim_bridge.sync")

#: Whether anyone reports to a manager (built once: asked for every person created).
_HAS_REPORTS = select(User.id).where(User.manager_id == bindparam("manager")).limit(1)


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
    """Projects one resource at a time onto DingTalk: read -> decide -> apply -> record."""

    db: Database
    client: DingTalkClient
    rules: MappingRules
    clock: Callable[[], datetime]
    #: Sees every operation decided, before it is applied (tests compare them with plan's).
    observe: Callable[[Operation], None] | None = None
    record: Recorder = field(init=False)
    #: Departments and roles (translate_structure.py); people (translate_people.py).
    structure: Structure = field(init=False)
    people: People = field(init=False)
    _user_locks: tuple[threading.Lock, ...] = field(
        default_factory=lambda: tuple(threading.Lock() for _ in range(256))
    )

    def __post_init__(self) -> None:
        self.record = Recorder(self.db, self.clock)
        self.client.listen(self.record.calls)  # each call's errcode and latency, audited
        locks = KeyedLocks()
        self.structure = Structure(self.db, self.client, self.record, self._observed, locks)
        self.people = People(self.db, self.client, self.record, self.clock, self._observed, locks)

    # --- entry points ------------------------------------------------------------------------

    def sync(
        self,
        resource_type: str,
        resource_id: str,
        *,
        actor: str | None = None,
        unsure: bool = False,
    ) -> None:
        """Bring DingTalk in line with one directory resource; raise DingTalkError on failure.

        ``unsure``: an earlier translation may have written to DingTalk without recording it
        (its worker died), so it is compared with DingTalk itself, not the snapshot."""
        if resource_type == "User":
            self.sync_user(resource_id, actor=actor, unsure=unsure)
        elif resource_type == "Group":
            self.sync_group(resource_id, actor=actor, unsure=unsure)
        else:
            raise ValueError(f"unknown resource type {resource_type!r}")

    def sync_user(self, user_id: str, *, actor: str | None = None, unsure: bool = False) -> None:
        """Create, update, move or remove one person in DingTalk."""
        # One translation of a person at a time: a department removal re-projects its members
        # inline, possibly while a pool thread holds the same person's outbox row.
        stripe = self._user_locks[zlib.crc32(user_id.encode()) % len(self._user_locks)]
        with stripe, self.record.translation("User", user_id):
            self._sync_user(user_id, actor=actor, unsure=unsure)

    def _sync_user(self, user_id: str, *, actor: str | None, unsure: bool) -> None:
        read = self._read_user(user_id)
        projection, link = read.projection, read.link
        if projection is None or projection.action == REMOVE:
            reason = decide.DELETED_IN_IDP if projection is None else projection.reason
            self.people.remove(user_id, link, self.rules, reason=reason, actor=actor)
            return
        if projection.action == SKIP:
            return
        dept_ids = [
            self.structure.ensure_department(read.specs, key, actor=actor)
            for key in projection.department_keys
        ]
        desired = desired_person(projection, dept_ids, read.manager_userid)
        live = link is not None and link.state != REMOVED
        if link is None or not has_person(
            live=live, dingtalk_id=link.dingtalk_id, snapshot=link.snapshot
        ):
            # No person under this link yet: new, removed, or only a userid reserved.
            desired[HELD_ROLES] = []  # a new (or re-created) person starts with no role of ours
            self.people.link_person(user_id, link, projection, desired, self.rules, actor=actor)
            self._wake_reports(user_id)
        else:
            desired[HELD_ROLES] = held_roles(link.snapshot)
            # Issue 14: after a failed attempt (last_error; cleared by each recorded success: a
            # write that timed out may have been applied, dingtalk-api.md §10) or a takeover,
            # DingTalk may be ahead of the snapshot, and a diff against it would miss a move.
            reread = unsure or link.last_error is not None
            self.people.update(user_id, link, desired, self.rules, actor=actor, reread=reread)
        if read.roles or desired[HELD_ROLES]:
            self.structure.give_roles(user_id, read.roles, desired, actor=actor)
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

    def sync_group(self, group_id: str, *, actor: str | None = None, unsure: bool = False) -> None:
        """Rename, move, create or delete the department a group stands for."""
        with self.record.translation("Group", group_id):
            self._sync_group(group_id, actor=actor, unsure=unsure)

    def _sync_group(self, group_id: str, *, actor: str | None, unsure: bool) -> None:
        key = group_key(group_id)
        with self.db.read() as session:
            view = DatabaseDirectory(session)
            group = view.group(group_id)
            link = link_of(session, DEPARTMENT, key)
            role = link_of(session, ROLE, key)
            # A renamed group renames its role while it is one (plan lists the same).
            as_role = (
                role_spec(key, self.rules, view)
                if role is not None and group is not None and role_group_passes(group, self.rules)
                else None
            )
            spec_map: dict[str, DepartmentSpec] = {}
            if group is not None and self.rules.departments.strategy == "groups":
                resolver = DepartmentResolver(self.rules, view)
                resolver.ensure(key)
                spec_map = dict(resolver.specs)
        if as_role is not None:
            self.structure.ensure_role(as_role, actor=actor)
        if key in spec_map:
            self.structure.ensure_department(spec_map, key, actor=actor, reread=unsure)
            return
        if link is None or link.state == REMOVED or not link.dingtalk_id:
            return
        self.structure.remove_department(
            key, link, move_out=lambda uid: self.sync_user(uid, actor=actor), actor=actor
        )

    def reproject_changed(
        self, *, actor: str = "mapping-change", chunk: int = 500, on_start: bool = False
    ) -> int:
        """Queue exactly the users and groups whose desired state differs under the rules
        (``on_start``: unless the last full pass ran under the same rules and build)."""
        if on_start:
            return reproject.reproject_on_start(self.db, self.rules, now=self.clock, actor=actor)
        return reproject.reproject_changed(
            self.db, self.rules, now=self.clock, actor=actor, chunk=chunk
        )

    def _wake_reports(self, manager_id: str) -> None:
        """Re-project people whose manager just reached DingTalk."""
        # Most people manage nobody: look first, and take the writer's turn (one per SQLite
        # database) only when there are reports to wake (bench/translator_cpu.py).
        with self.db.read() as session:
            if session.scalar(_HAS_REPORTS, {"manager": manager_id}) is None:
                return
        with self.db.write() as session:
            reports = list(session.scalars(select(User.id).where(User.manager_id == manager_id)))
            placed = select(Link).where(Link.kind == USER, Link.key.in_(reports))
            snapshots = {lk.key: lk.snapshot for lk in session.scalars(placed)}
            waiting = reports_waiting(reports, snapshots)
            mark_changed(
                session, "User", waiting, actor="translator", now=self.clock(), lane=Lane.UPDATE
            )

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
