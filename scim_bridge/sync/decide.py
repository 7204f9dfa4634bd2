"""The sync's decisions, pure: desired state + what DingTalk holds + the links -> operations.

One engine for every caller (issue 10): ``scim-bridge plan`` lists these operations, the
translator executes them. Nothing here opens a session, calls DingTalk or reads a clock; the
inputs are plain data (the mapping's projection, a snapshot of what DingTalk holds, the links)
and the output is a list of typed operations, each with its reason and its field diff.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from scim_bridge.mapping.attributes import userid_choices
from scim_bridge.mapping.compare import normalise_field
from scim_bridge.mapping.model import DepartmentSpec, RoleSpec

#: DingTalk user fields with rules of their own: the manager and the department list.
MANAGER = "manager_userid"
DEPT_LIST = "dept_id_list"
ROLES = "roles"
#: Why a person whose SCIM user is gone altogether is removed.
DELETED_IN_IDP = "deleted in the IdP"
#: Fields DingTalk requires of every member (dingtalk-api.md §3.1): one the mapping no longer
#: yields keeps its held value. Clearing it is refused (60103 for mobile), and the refusal
#: would take the rest of that person's update down with it; `quality` reports the person
#: instead (mobile_missing, name_missing).
REQUIRED_FIELDS = frozenset({"mobile", "name"})


class Kind(StrEnum):
    """What an operation does."""

    CREATE = "create"
    UPDATE = "update"
    MOVE = "move"
    DELETE = "delete"
    ROLES = "roles"
    LINK = "link"
    UNLINK = "unlink"
    CONFLICT = "conflict"


class Target(StrEnum):
    """What an operation acts on."""

    DEPARTMENT = "department"
    ROLE = "role"
    USER = "user"


@dataclass(frozen=True)
class FieldChange:
    """One field of one resource: its value now and the value the operation writes."""

    field: str
    old: Any
    new: Any

    def to_dict(self) -> dict[str, Any]:
        """Return the change as JSON-able data."""
        return {"field": self.field, "old": jsonable(self.old), "new": jsonable(self.new)}


@dataclass(frozen=True)
class Operation:
    """One decision: a DingTalk write (or, for link/unlink/conflict, a bookkeeping step)."""

    kind: Kind
    target: Target
    key: str
    ident: str
    name: str
    changes: tuple[FieldChange, ...] = ()
    reason: str = ""

    @property
    def values(self) -> dict[str, Any]:
        """Return the new value of every changed field."""
        return {c.field: c.new for c in self.changes}

    @property
    def clear_manager(self) -> bool:
        """Say whether this update removes the person's manager (dingtalk-api.md §3.3)."""
        return any(c.field == MANAGER and c.new is None for c in self.changes)


def is_empty(value: Any) -> bool:
    """Say whether a value means "no value" to DingTalk (omitted, blank, empty list or map)."""
    return value is None or (isinstance(value, str | list | dict | tuple) and not value)


def jsonable(value: Any) -> Any:
    """Return a value with maps sorted and tuples as lists, for JSON and comparison."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


#: One normalisation for the translator, plan, reconcile and explain (mapping/compare.py).
_norm = normalise_field


# --- users ----------------------------------------------------------------------------------


def field_changes(
    held: Mapping[str, Any], fields: Mapping[str, Any], *, managed: Collection[str] = ()
) -> tuple[FieldChange, ...]:
    """Diff one person's DingTalk fields against the mapping's; a managed field absent is cleared.

    Clearing a scalar sends "" (DingTalk ignores an omitted key); a list or map is sent empty.
    A required field (``REQUIRED_FIELDS``) is never cleared: the held value stays.
    The manager and the department list have rules of their own (``manager_change``, moves).
    """
    out = []
    for name in sorted(set(managed) | set(fields)):
        if name in (MANAGER, DEPT_LIST) or name.startswith("_"):
            continue
        old, new = held.get(name), fields.get(name)
        if _norm(name, old) == _norm(name, new):
            continue
        if is_empty(new):
            if is_empty(old) or name in REQUIRED_FIELDS:
                continue
            new = type(old)() if isinstance(old, list | dict) else ""
        out.append(FieldChange(name, old, jsonable(new)))
    return tuple(out)


def manager_change(held: str | None, wanted: str | None) -> FieldChange | None:
    """Set or clear the manager; a cleared manager is None (sent as clear_manager, not "")."""
    if (held or None) == (wanted or None):
        return None
    return FieldChange(MANAGER, held or None, wanted or None)


def create_user(
    scim_id: str,
    userid: str,
    fields: Mapping[str, Any],
    *,
    dept_ids: Sequence[Any],
    manager_userid: str | None,
    reason: str = "",
) -> Operation:
    """Create a person: their non-empty fields, departments, and manager once known."""
    changes = [
        FieldChange(name, None, jsonable(fields[name]))
        for name in sorted(fields)
        if not is_empty(fields[name]) and not name.startswith("_")
    ]
    changes.append(FieldChange(DEPT_LIST, None, dept_list(dept_ids)))
    if manager_userid:
        changes.append(FieldChange(MANAGER, None, manager_userid))
    return Operation(
        Kind.CREATE, Target.USER, scim_id, userid, _name(fields), tuple(changes), reason
    )


def update_user(
    scim_id: str,
    userid: str,
    held: Mapping[str, Any],
    fields: Mapping[str, Any],
    *,
    dept_ids: Sequence[Any],
    manager_userid: str | None,
    managed: Collection[str] = (),
) -> list[Operation]:
    """Bring an existing person in line: an update of fields and manager, a move of departments."""
    ops = []
    changes = list(field_changes(held, fields, managed=managed))
    manager = manager_change(held.get(MANAGER), manager_userid)
    if manager is not None:
        changes.append(manager)
    name = _name(fields)
    if changes:
        ops.append(Operation(Kind.UPDATE, Target.USER, scim_id, userid, name, tuple(changes)))
    old, new = dept_list(held.get(DEPT_LIST) or []), dept_list(dept_ids)
    if old != new:
        move = (FieldChange(DEPT_LIST, old, new),)
        ops.append(Operation(Kind.MOVE, Target.USER, scim_id, userid, name, move))
    return ops


def set_roles(
    scim_id: str, userid: str, name: str, *, held: Iterable[Any], wanted: Iterable[Any]
) -> Operation | None:
    """Give a person exactly the roles of ours the mapping names (dingtalk-api.md §5)."""
    old, new = sorted({str(r) for r in held}), sorted({str(r) for r in wanted})
    if old == new:
        return None
    return Operation(
        Kind.ROLES, Target.USER, scim_id, userid, name, (FieldChange(ROLES, old, new),)
    )


def remove_user(
    scim_id: str, userid: str, name: str, *, reason: str, holder_words: str | None = None
) -> Operation:
    """Delete a leaver's person, or only unlink when another live link holds that person."""
    if holder_words:
        return Operation(Kind.UNLINK, Target.USER, scim_id, userid, name, reason=holder_words)
    return Operation(Kind.DELETE, Target.USER, scim_id, userid, name, reason=reason)


def pending_manager(manager_scim_id: str | None, manager_userid: str | None) -> str:
    """Say why a person has no manager yet: theirs is not in DingTalk (scim-idp-notes §3.3)."""
    if manager_scim_id and not manager_userid:
        return f"manager {manager_scim_id} is set once they reach DingTalk"
    return ""


def dept_list(dept_ids: Iterable[Any]) -> list[str]:
    """Return department ids as the sorted text both snapshots and plans compare."""
    return sorted({str(d) for d in dept_ids})


def _name(fields: Mapping[str, Any]) -> str:
    return str(fields.get("name") or "")


# --- which DingTalk person a SCIM user becomes ----------------------------------------------


@dataclass(frozen=True)
class PersonChoice:
    """The person a SCIM user without one gets: created, adopted, or refused (a conflict)."""

    kind: Kind  # CREATE, LINK or CONFLICT
    userid: str
    reason: str
    holder: str | None = None
    #: The link key that found the person (mobile, email, job_number), when one did.
    key: str | None = None


def choose_person(
    scim_id: str,
    *,
    derived: str,
    known: str | None,
    matches: Sequence[tuple[str, str]],
    exists: Collection[str],
    holders: Mapping[str, str],
    on_conflict: str,
) -> PersonChoice:
    """Choose the userid of a SCIM user with no person yet (issue 9's takeover safety).

    In order: the userid its link already held (a leaver back, a create to finish); the one
    person its link keys found (``matches``: (key, userid) in policy order); the derived
    userid, else its own suffixed one (mapping/attributes). A person another SCIM user holds
    (``holders``: userid -> SCIM id) is never taken; ``exists`` are userids DingTalk has.
    """
    if known and holders.get(known, scim_id) == scim_id:
        return _take(known, exists, "the userid it was linked to")
    people = list(dict.fromkeys(u for _, u in matches))
    if len(people) > 1 and on_conflict == "skip":
        found = "; ".join(f"{k} -> {u}" for k, u in matches)
        return PersonChoice(Kind.CONFLICT, derived, f"matches several DingTalk people ({found})")
    if people and (len(people) == 1 or on_conflict == "first"):
        userid = people[0]
        key = next(k for k, u in matches if u == userid)
        holder = holders.get(userid, scim_id)
        if holder == scim_id:
            return PersonChoice(Kind.LINK, userid, f"matched by {key}", key=key)
        if on_conflict != "create":
            return PersonChoice(Kind.CONFLICT, userid, f"found by {key}", holder, key)
    held: list[tuple[str, str]] = []
    for userid in userid_choices(derived, scim_id):
        holder = holders.get(userid, scim_id)
        if holder == scim_id:
            return _take(userid, exists, "same userid")
        held.append((userid, holder))
    userid, holder = held[-1]
    return PersonChoice(Kind.CONFLICT, userid, "the userid derived for it", holder)


def _take(userid: str, exists: Collection[str], why: str) -> PersonChoice:
    # dingtalk-api.md §10: a userid DingTalk already has is adopted, never created twice.
    if userid in exists:
        return PersonChoice(Kind.LINK, userid, why)
    return PersonChoice(Kind.CREATE, userid, "")


# --- departments and roles ------------------------------------------------------------------


def ensure_department(
    spec: DepartmentSpec, *, ident: str, parent_id: str, held: Mapping[str, Any] | None
) -> list[Operation]:
    """Create a department, or move and rename the one DingTalk holds (``held``) to match."""
    if held is None:
        changes = [
            FieldChange("name", None, spec.name),
            FieldChange("parent_id", None, parent_id),
            FieldChange("source_identifier", None, spec.source_identifier),
        ]
        if spec.order is not None:
            changes.append(FieldChange("order", None, spec.order))
        return [
            Operation(Kind.CREATE, Target.DEPARTMENT, spec.key, ident, spec.name, tuple(changes))
        ]
    ops = []
    if str(held.get("parent_id", 1)) != parent_id:
        move = (FieldChange("parent_id", held.get("parent_id"), parent_id),)
        ops.append(Operation(Kind.MOVE, Target.DEPARTMENT, spec.key, ident, spec.name, move))
    changes = []
    if held.get("name") != spec.name:
        changes.append(FieldChange("name", held.get("name"), spec.name))
    if (held.get("source_identifier") or "") != spec.source_identifier:
        old = held.get("source_identifier")
        changes.append(FieldChange("source_identifier", old, spec.source_identifier))
    if spec.order is not None and held.get("order") != spec.order:
        changes.append(FieldChange("order", held.get("order"), spec.order))
    if changes:
        ops.append(
            Operation(Kind.UPDATE, Target.DEPARTMENT, spec.key, ident, spec.name, tuple(changes))
        )
    return ops


def delete_departments(stale: Iterable[tuple[str, int, str, int]]) -> list[Operation]:
    """Delete departments no longer wanted, (key, dept_id, name, depth), deepest first.

    dingtalk-api.md §4.3: a department with sub-departments cannot be deleted; its members are
    moved out by their own updates, which come before.
    """
    ordered = sorted(stale, key=lambda d: (-d[3], d[0]))
    return [
        Operation(Kind.DELETE, Target.DEPARTMENT, key, str(dept_id), name)
        for key, dept_id, name, _ in ordered
    ]


def ensure_role(
    spec: RoleSpec, *, ident: str, held_name: str | None, linked: bool
) -> list[Operation]:
    """Create a role in its group, or rename it when its group was renamed in the IdP."""
    if not linked:
        changes = (
            FieldChange("roleName", None, spec.name),
            FieldChange("group", None, spec.group_name),
        )
        return [Operation(Kind.CREATE, Target.ROLE, spec.key, ident, spec.name, changes)]
    if held_name is not None and held_name != spec.name:
        rename = (FieldChange("roleName", held_name, spec.name),)
        return [Operation(Kind.UPDATE, Target.ROLE, spec.key, ident, spec.name, rename)]
    return []
