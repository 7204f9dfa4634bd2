"""The dry run over the whole directory: every operation decide.py makes, in dependency order.

``scim-bridge plan`` feeds this the mapping's projection and what DingTalk holds (walked live, or
as the links last applied it); the decisions are decide.py's and decide_departments.py's, the
same the translator executes. This module only puts them together in dependency order:
departments (parents first), roles, people (managers before their reports), then deletions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from scim_bridge.mapping.model import Projection
from scim_bridge.sync.decide import Kind, Operation, Target
from scim_bridge.sync.decide_departments import new_id, plan_departments, plan_roles
from scim_bridge.sync.plan_users import plan_users

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
    #: {role key: the name the bridge last gave that role} (a renamed group renames its role)
    role_names: Mapping[str, str] = field(default_factory=dict)


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
    dept_ops, dept_ids, dept_deletes = plan_departments(
        desired.departments, current.departments, current.dept_links
    )
    role_ops, role_ids = plan_roles(desired.roles, current.role_links, current.role_names)
    user_ops = plan_users(desired, current, dept_ids, role_ids)
    return Plan(steps=tuple(dept_ops + role_ops + user_ops + dept_deletes))
