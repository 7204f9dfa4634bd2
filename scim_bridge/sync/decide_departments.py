"""The sync's department and role decisions, pure: specs + what DingTalk holds -> operations.

One engine for every caller (issue 10): the translator decides one department or role at a
time with ``department_ops`` and ``role_ops`` as it meets them; ``plan`` decides the whole
directory with ``plan_departments`` and ``plan_roles``, which apply the same two functions to
every key. No session, no client, no clock: literal data in, literal operations out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scim_bridge.mapping.model import ROOT_DEPT_ID, ROOT_KEY, DepartmentSpec, RoleSpec
from scim_bridge.sync import decide
from scim_bridge.sync.decide import Kind, Operation, Target
from scim_bridge.sync.decide_snapshots import PROJECTION, snapshot_hash


def new_id(key: str) -> str:
    """Return the placeholder id of something not created yet (its DingTalk id is unknown)."""
    return f"new:{key}"


def role_group_key(name: str) -> str:
    """Return the link key of a role group, by its name (dingtalk-api.md §5: roles live in one)."""
    return f"role-group:{name}"


# --- one department, one role ---------------------------------------------------------------


def department_snapshot(spec: DepartmentSpec, parent_id: int) -> dict[str, Any]:
    """Return what the translator records of a department it applied, with the spec's digest."""
    return {
        "name": spec.name,
        "parent_id": parent_id,
        "source_identifier": spec.source_identifier,
        "order": spec.order,
        PROJECTION: snapshot_hash(spec.snapshot()),
    }


def department_ops(
    spec: DepartmentSpec,
    *,
    dept_id: int | None,
    parent_id: int | str,
    held: Mapping[str, Any] | None,
) -> list[Operation]:
    """Create a department (``dept_id`` None: none is linked), or move and rename the held one.

    ``held`` is what DingTalk holds for ``dept_id``: its last snapshot, or a live read. A
    department created now is named ``new:<key>`` until DingTalk gives it an id.
    """
    if dept_id is None:
        return decide.ensure_department(
            spec, ident=new_id(spec.key), parent_id=str(parent_id), held=None
        )
    return decide.ensure_department(
        spec, ident=str(dept_id), parent_id=str(parent_id), held=held or {}
    )


def must_record_department(
    ops: list[Operation], held: Mapping[str, Any], want: Mapping[str, Any]
) -> bool:
    """Say whether a linked department's snapshot must be written again (changed, or new rules)."""
    return bool(ops) or held.get(PROJECTION) != want.get(PROJECTION)


def delete_department(key: str, dept_id: int, name: str) -> Operation:
    """Delete one department no group stands for any more (its members moved out first)."""
    (op,) = decide.delete_departments([(key, dept_id, name, 0)])
    return op


def role_ops(
    spec: RoleSpec, *, role_id: int | str | None, held_name: str | None
) -> list[Operation]:
    """Create a role (``role_id`` None), or rename the linked one when its group was renamed."""
    ident = new_id(spec.key) if role_id is None else str(role_id)
    return decide.ensure_role(spec, ident=ident, held_name=held_name, linked=role_id is not None)


# --- the whole directory (plan) -------------------------------------------------------------


def plan_departments(
    wanted: Mapping[str, DepartmentSpec],
    departments: Mapping[int, Mapping[str, Any]],
    dept_links: Mapping[str, int],
) -> tuple[list[Operation], dict[str, str], list[Operation]]:
    """Decide every department: (links and creates and changes, ids by key, deletions).

    ``departments`` is what DingTalk holds by dept_id, ``dept_links`` the bridge's links. A
    department we made before its link was recorded (an ambiguous write) is adopted by its
    source_identifier. Parents come first; renames before moves; deletions deepest first.
    """
    ids: dict[str, str] = {ROOT_KEY: str(ROOT_DEPT_ID)}
    linked_ids = set(dept_links.values())
    by_source: dict[str, int] = {}
    for dept_id, dept in departments.items():
        src = dept.get("source_identifier")
        if src and dept_id not in linked_ids:
            by_source.setdefault(str(src), dept_id)
    links: list[Operation] = []
    creates: list[Operation] = []
    existing: list[tuple[str, int]] = []
    for key in parents_first(wanted):
        spec = wanted[key]
        linked = dept_links.get(key)
        if linked is not None and linked in departments:
            ids[key] = str(linked)
            existing.append((key, linked))
            continue
        adopt = by_source.pop(spec.source_identifier, None)
        if adopt is not None:
            ids[key] = str(adopt)
            existing.append((key, adopt))
            why = "same source_identifier"
            links.append(
                Operation(Kind.LINK, Target.DEPARTMENT, key, str(adopt), spec.name, reason=why)
            )
            continue
        ids[key] = new_id(key)
        parent = ids[spec.parent_key] if spec.parent_key else str(ROOT_DEPT_ID)
        creates += department_ops(spec, dept_id=None, parent_id=parent, held=None)
    changes: list[Operation] = []
    for key, dept_id in existing:
        spec = wanted[key]
        parent = ids[spec.parent_key] if spec.parent_key else str(ROOT_DEPT_ID)
        held = departments[dept_id]
        changes += department_ops(spec, dept_id=dept_id, parent_id=parent, held=held)
    # Renames first, then moves: a move never waits on a rename.
    changes.sort(key=lambda op: op.kind == Kind.MOVE)
    stale = [
        (key, dept_id, str(departments[dept_id].get("name", "")), _depth(dept_id, departments))
        for key, dept_id in dept_links.items()
        if key not in wanted and key != ROOT_KEY and dept_id in departments
    ]
    return links + creates + changes, ids, decide.delete_departments(stale)


def parents_first(wanted: Mapping[str, DepartmentSpec]) -> list[str]:
    """Return the department keys, each after its parent (then by key)."""
    depth: dict[str, int] = {}

    def depth_of(key: str) -> int:
        chain = []
        probe: str | None = key
        while probe is not None and probe not in depth and probe not in chain:
            chain.append(probe)
            spec = wanted.get(probe)
            probe = spec.parent_key if spec else None
        base = depth.get(probe, -1) if probe is not None else -1
        for k in reversed(chain):
            base += 1
            depth[k] = base
        return depth[key]

    return sorted(wanted, key=lambda k: (depth_of(k), k))


def _depth(dept_id: int, departments: Mapping[int, Mapping[str, Any]]) -> int:
    depth = 0
    seen: set[int] = set()
    probe: Any = dept_id
    while probe not in (None, ROOT_DEPT_ID) and probe not in seen:
        seen.add(probe)
        dept = departments.get(int(probe))
        if dept is None:
            break
        probe = dept.get("parent_id")
        depth += 1
    return depth


def plan_roles(
    wanted: Mapping[str, RoleSpec],
    role_links: Mapping[str, int],
    role_names: Mapping[str, str],
) -> tuple[list[Operation], dict[str, str]]:
    """Decide every role: (creates and renames, ids by key).

    ``role_names`` are the names the bridge last gave its linked roles. A role no group stands
    for any more is taken from its people (their roles operations) and left in DingTalk, as the
    translator does: the client has no call that deletes a role, so none is listed.
    """
    ids: dict[str, str] = {}
    ops: list[Operation] = []
    for key in sorted(wanted):
        role_id = role_links.get(key)
        ids[key] = str(role_id) if role_id is not None else new_id(key)
        ops += role_ops(wanted[key], role_id=role_id, held_name=role_names.get(key))
    return ops, ids
