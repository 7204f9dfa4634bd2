"""The translator's departments and roles: read the link -> decide -> apply -> record.

Each step is one department or role: its link is read, decide_departments.py decides (the same
functions ``plan`` uses), apply_departments.py makes the call, record.py writes the link and
the event. A department is ensured parents first; a role inside its role group.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from scim_bridge.dingtalk.client import DingTalkClient
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import Link
from scim_bridge.errors import DingTalkNotFound
from scim_bridge.mapping.model import ROOT_DEPT_ID, ROOT_KEY, DepartmentSpec, RoleSpec
from scim_bridge.sync import apply, apply_departments, decide
from scim_bridge.sync.decide import Kind, Operation
from scim_bridge.sync.decide_departments import (
    delete_department,
    department_ops,
    department_snapshot,
    must_record_department,
    role_group_key,
    role_ops,
)
from scim_bridge.sync.decide_snapshots import HELD_ROLES, members_placed, user_fields
from scim_bridge.sync.record import (
    DEPARTMENT,
    REMOVED,
    ROLE,
    ROLE_GROUP,
    SYNCED,
    USER,
    Recorder,
    link_of,
)

Observe = Callable[[Iterable[Operation]], list[Operation]]


@dataclass
class KeyedLocks:
    """One lock per key (a department, a role, an index), made on first use."""

    _locks: dict[str, threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def of(self, key: str) -> threading.Lock:
        """Return the lock of ``key``."""
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())


def _synced_id(link: Link | None) -> int | None:
    """Return the DingTalk id a synced department or role link holds, else None."""
    if link is not None and link.state == SYNCED and link.dingtalk_id:
        return int(link.dingtalk_id)
    return None


@dataclass
class Structure:
    """Ensures departments and roles in DingTalk, one key at a time, for the translator."""

    db: Database
    client: DingTalkClient
    record: Recorder
    #: The translator's observer: sees every operation decided, in order, before it is applied.
    observed: Observe
    locks: KeyedLocks

    # --- departments -------------------------------------------------------------------------

    def ensure_department(
        self,
        specs: Mapping[str, DepartmentSpec],
        key: str,
        *,
        actor: str | None,
        reread: bool = False,
    ) -> int:
        """Return the dept_id for a department key, creating or updating it (parents first).

        ``reread``: compare with DingTalk, not the snapshot (a takeover, sync/claims.py)."""
        if key == ROOT_KEY:
            return ROOT_DEPT_ID
        spec = specs[key]
        parent_id = (
            ROOT_DEPT_ID
            if spec.parent_key in (None, ROOT_KEY)
            else self.ensure_department(specs, str(spec.parent_key), actor=actor)
        )
        want = department_snapshot(spec, parent_id)
        with self.locks.of(key):
            with self.db.read() as session:
                link = link_of(session, DEPARTMENT, key)
            dept_id = _synced_id(link)
            if dept_id is None or link is None:
                return self._create_department(spec, want, actor=actor)
            held: Mapping[str, Any] = link.snapshot or {}
            if reread or link.last_error is not None:
                # Issue 14: a rename that timed out may have been applied (dingtalk-api.md
                # §10), so the snapshot may be behind DingTalk: compare with DingTalk itself.
                try:
                    held = self.client.get_department(dept_id)
                except DingTalkNotFound:
                    return self._create_department(spec, want, actor=actor)
            ops = self.observed(
                department_ops(spec, dept_id=dept_id, parent_id=parent_id, held=held)
            )
            if ops:
                try:
                    sent = apply_departments.update_department(self.client, dept_id, ops)
                except DingTalkNotFound:
                    # Deleted in DingTalk by hand: put it back (reconciliation).
                    return self._create_department(spec, want, actor=actor)
                self.record.event(
                    "Department", key, "update", str(dept_id), "ok", fields=sent, actor=actor
                )
            if must_record_department(ops, held, want):
                self.record.save_link(DEPARTMENT, key, str(dept_id), want)
            return dept_id

    def _create_department(
        self, spec: DepartmentSpec, want: Mapping[str, Any], *, actor: str | None
    ) -> int:
        (op,) = self.observed(
            department_ops(spec, dept_id=None, parent_id=want["parent_id"], held=None)
        )
        placed = apply_departments.create_department(self.client, op)
        dept_id = str(placed.dept_id)
        if placed.adopted is None:
            fields = dict(want)
            self.record.event(
                "Department", spec.key, "create", dept_id, "ok", fields=fields, actor=actor
            )
        else:
            detail = placed.adopted
            self.record.event(
                "Department", spec.key, "adopt", dept_id, "ok", detail=detail, actor=actor
            )
        self.record.save_link(DEPARTMENT, spec.key, dept_id, want)
        return placed.dept_id

    def remove_department(
        self, key: str, link: Link, *, move_out: Callable[[str], None], actor: str | None
    ) -> None:
        """Move every member out (``move_out`` re-projects one person), then delete it."""
        dept_id = int(str(link.dingtalk_id))
        with self.db.read() as session:
            # Every live link, not only synced ones: a person whose last update failed
            # (retrying) is still placed where their snapshot says.
            live = select(Link).where(Link.kind == USER, Link.state != REMOVED)
            placements = [(lk.key, lk.snapshot) for lk in session.scalars(live)]
        for user_id in members_placed(dept_id, placements):
            move_out(user_id)
        name = str((link.snapshot or {}).get("name") or "")
        (op,) = self.observed([delete_department(key, dept_id, name)])
        existed = apply_departments.delete_department(self.client, op)
        gone = None if existed else "already gone from DingTalk"
        self.record.event("Department", key, "delete", op.ident, "ok", detail=gone, actor=actor)
        self.record.removed(DEPARTMENT, key, forget_id=True)

    # --- roles (dingtalk-api.md §5) ----------------------------------------------------------

    def ensure_role(self, spec: RoleSpec, *, actor: str | None) -> int:
        """Return the role id for a role key, creating its role group and role if needed."""
        with self.locks.of(f"role:{spec.key}"):
            with self.db.read() as session:
                link = link_of(session, ROLE, spec.key)
            role_id = _synced_id(link)
            held_name = str((link.snapshot or {}).get("name") or "") if link is not None else None
            for op in self.observed(role_ops(spec, role_id=role_id, held_name=held_name)):
                if op.kind == Kind.CREATE:
                    group_id = self._ensure_role_group(spec.group_name, actor=actor)
                    role_id = apply_departments.create_role(self.client, op, group_id)
                    fields = spec.snapshot()
                else:  # the group was renamed in the IdP: so is its role
                    apply_departments.rename_role(self.client, op)
                    fields = {"name": spec.name}
                action = str(op.kind)
                self.record.event(
                    "Role", spec.key, action, str(role_id), "ok", fields=fields, actor=actor
                )
                self.record.save_link(ROLE, spec.key, str(role_id), spec.snapshot())
            assert role_id is not None  # linked, or created just now
            return role_id

    def _ensure_role_group(self, name: str, *, actor: str | None) -> int:
        key = role_group_key(name)
        with self.locks.of(key):
            with self.db.read() as session:
                group_id = _synced_id(link_of(session, ROLE_GROUP, key))
            if group_id is not None:
                return group_id
            group_id = apply_departments.create_role_group(self.client, name)
            fields = {"name": name}
            self.record.event(
                "Role", key, "create", str(group_id), "ok", fields=fields, actor=actor
            )
            self.record.save_link(ROLE_GROUP, key, str(group_id), fields)
            return group_id

    def give_roles(
        self, user_id: str, roles: list[RoleSpec], desired: dict[str, Any], *, actor: str | None
    ) -> None:
        """Give the person exactly the roles the mapping names (dingtalk-api.md §5)."""
        wanted = sorted({self.ensure_role(spec, actor=actor) for spec in roles})
        held = sorted(int(r) for r in desired.get(HELD_ROLES) or [])
        with self.db.read() as session:
            link = link_of(session, USER, user_id)
        if link is None or not link.dingtalk_id:
            return
        userid = link.dingtalk_id
        name = str(user_fields(desired).get("name") or "")
        op = decide.set_roles(user_id, userid, name, held=held, wanted=wanted)
        if op is not None:
            self.observed([op])
            added, removed = apply.set_roles(self.client, userid, op)
            for action, ids in (("add_roles", added), ("remove_roles", removed)):
                if ids:
                    fields = {"role_ids": ids}
                    self.record.event(
                        "User", user_id, action, userid, "ok", fields=fields, actor=actor
                    )
        if op is not None or held != wanted:
            desired[HELD_ROLES] = wanted
            self.record.save_link(USER, user_id, userid, desired)
