"""The dry run over the whole directory: every operation decide.py makes, in dependency order.

``scim-bridge plan`` feeds this the mapping's projection and what DingTalk holds (walked live, or
as the links last applied it); the decisions are decide.py's, the same the translator executes.
This module only resolves ids across resources (a department or manager the plan itself creates
is named ``new:<key>``) and orders the operations: departments parents first, managers before
their reports, deletions last and deepest first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from scim_bridge.mapping.model import ROOT_DEPT_ID, ROOT_KEY, Projection
from scim_bridge.sync import decide
from scim_bridge.sync.decide import Kind, Operation, Target
from scim_bridge.sync.plan_users import new_id, plan_users

__all__ = ["CurrentState", "Plan", "new_id", "plan", "writes"]

KINDS = tuple(k.value for k in Kind)
TARGETS = tuple(t.value for t in Target)


@dataclass(frozen=True)
class CurrentState:
    """What DingTalk holds now and what the bridge has linked, as plain data."""

    #: {userid: {field: value, "dept_id_list": [...], "manager_userid": ..., "role_list"?: [...]}}
    users: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: {dept_id: {"name", "parent_id", "source_identifier", "order"?}}
    departments: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    #: {department key: dept_id}
    dept_links: Mapping[str, int] = field(default_factory=dict)
    #: {scim user id: userid}
    user_links: Mapping[str, str] = field(default_factory=dict)
    #: {role key: role_id}
    role_links: Mapping[str, int] = field(default_factory=dict)
    #: {scim user id: role ids of ours the person holds} (from the links' snapshots)
    user_roles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """Every operation needed to converge, in dependency order, with totals."""

    steps: tuple[Operation, ...]

    @property
    def totals(self) -> dict[str, Any]:
        """Return the number of operations per target and kind, and of DingTalk writes."""
        counts: Counter[tuple[str, str]] = Counter((s.target, s.kind) for s in self.steps)
        out: dict[str, Any] = {
            target: {kind: counts[(target, kind)] for kind in KINDS if counts[(target, kind)]}
            for target in TARGETS
        }
        out["calls"] = sum(1 for s in self.steps if writes(s))
        return out

    def count(self, target: str, kind: str) -> int:
        """Return how many operations of one target and kind the plan holds."""
        return sum(1 for s in self.steps if s.target == target and s.kind == kind)


def writes(op: Operation) -> bool:
    """Say whether an operation is a DingTalk write (link, unlink, conflict are ours only)."""
    return op.kind not in (Kind.LINK, Kind.UNLINK, Kind.CONFLICT)


def plan(desired: Projection, current: CurrentState) -> Plan:
    """Decide every operation that converges DingTalk on the projection (writes nothing)."""
    # Ids read back from JSON or a database may be text; DingTalk's dept_id is a number.
    current = replace(
        current,
        departments={int(k): v for k, v in current.departments.items()},
        dept_links={k: int(v) for k, v in current.dept_links.items()},
    )
    dept_ops, dept_ids, dept_deletes = _departments(desired, current)
    role_ops, role_ids, role_deletes = _roles(desired, current)
    user_ops = plan_users(desired, current, dept_ids, role_ids)
    return Plan(steps=tuple(dept_ops + role_ops + user_ops + role_deletes + dept_deletes))


def _departments(
    desired: Projection, current: CurrentState
) -> tuple[list[Operation], dict[str, str], list[Operation]]:
    ids: dict[str, str] = {ROOT_KEY: str(ROOT_DEPT_ID)}
    linked_ids = set(current.dept_links.values())
    by_source: dict[str, int] = {}
    for dept_id, dept in current.departments.items():
        src = dept.get("source_identifier")
        if src and dept_id not in linked_ids:
            by_source.setdefault(str(src), dept_id)
    links: list[Operation] = []
    creates: list[Operation] = []
    existing: list[tuple[str, int]] = []
    for key in _parents_first(desired):
        spec = desired.departments[key]
        linked = current.dept_links.get(key)
        if linked is not None and linked in current.departments:
            ids[key] = str(linked)
            existing.append((key, linked))
            continue
        adopt = by_source.pop(spec.source_identifier, None)
        if adopt is not None:
            # A department we made before the link was recorded (an ambiguous write): adopt it.
            ids[key] = str(adopt)
            existing.append((key, adopt))
            links.append(
                Operation(
                    Kind.LINK,
                    Target.DEPARTMENT,
                    key,
                    str(adopt),
                    spec.name,
                    reason="same source_identifier",
                )
            )
            continue
        ids[key] = new_id(key)
        parent = ids[spec.parent_key] if spec.parent_key else str(ROOT_DEPT_ID)
        creates += decide.ensure_department(spec, ident=ids[key], parent_id=parent, held=None)
    changes: list[Operation] = []
    for key, dept_id in existing:
        spec = desired.departments[key]
        parent = ids[spec.parent_key] if spec.parent_key else str(ROOT_DEPT_ID)
        held = current.departments[dept_id]
        changes += decide.ensure_department(spec, ident=str(dept_id), parent_id=parent, held=held)
    # Renames first, then moves, as before: a move never waits on a rename.
    changes.sort(key=lambda op: op.kind == Kind.MOVE)
    stale = [
        (key, dept_id, str(current.departments[dept_id].get("name", "")), _depth(dept_id, current))
        for key, dept_id in current.dept_links.items()
        if key not in desired.departments and key != ROOT_KEY and dept_id in current.departments
    ]
    return links + creates + changes, ids, decide.delete_departments(stale)


def _parents_first(desired: Projection) -> list[str]:
    depth: dict[str, int] = {}

    def depth_of(key: str) -> int:
        chain = []
        probe: str | None = key
        while probe is not None and probe not in depth and probe not in chain:
            chain.append(probe)
            spec = desired.departments.get(probe)
            probe = spec.parent_key if spec else None
        base = depth.get(probe, -1) if probe is not None else -1
        for k in reversed(chain):
            base += 1
            depth[k] = base
        return depth[key]

    return sorted(desired.departments, key=lambda k: (depth_of(k), k))


def _depth(dept_id: int, current: CurrentState) -> int:
    depth = 0
    seen: set[int] = set()
    probe: Any = dept_id
    while probe not in (None, ROOT_DEPT_ID) and probe not in seen:
        seen.add(probe)
        dept = current.departments.get(int(probe))
        if dept is None:
            break
        probe = dept.get("parent_id")
        depth += 1
    return depth


def _roles(
    desired: Projection, current: CurrentState
) -> tuple[list[Operation], dict[str, str], list[Operation]]:
    ids: dict[str, str] = {}
    creates: list[Operation] = []
    for key in sorted(desired.roles):
        linked = key in current.role_links
        ids[key] = str(current.role_links[key]) if linked else new_id(key)
        creates += decide.ensure_role(
            desired.roles[key], ident=ids[key], held_name=None, linked=linked
        )
    deletes = [
        Operation(Kind.DELETE, Target.ROLE, key, str(role_id), key)
        for key, role_id in sorted(current.role_links.items())
        if key not in desired.roles
    ]
    return creates, ids, deletes
