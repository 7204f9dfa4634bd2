"""The dry run: diff a desired Projection against DingTalk's current state, call by call."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from scim_bridge.mapping.attributes import USER_FIELDS, free_userid
from scim_bridge.mapping.model import (
    REMOVE,
    ROOT_DEPT_ID,
    ROOT_KEY,
    UPSERT,
    Projection,
    UserProjection,
)

API = {
    ("department", "create"): "/topapi/v2/department/create",
    ("department", "update"): "/topapi/v2/department/update",
    ("department", "move"): "/topapi/v2/department/update",
    ("department", "delete"): "/topapi/v2/department/delete",
    ("user", "create"): "/topapi/v2/user/create",
    ("user", "update"): "/topapi/v2/user/update",
    ("user", "move"): "/topapi/v2/user/update",
    ("user", "delete"): "/topapi/v2/user/delete",
    ("role", "create"): "/role/add_role",
    ("role", "delete"): "/topapi/role/deleterole",
    ("user", "roles"): "/topapi/role/addrolesforemps",
}

KINDS = ("create", "update", "move", "delete", "roles", "link", "conflict")
TARGETS = ("department", "role", "user")


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


@dataclass(frozen=True)
class FieldChange:
    """One field of one resource: its value now and the value the call writes."""

    field: str
    old: Any
    new: Any

    def to_dict(self) -> dict[str, Any]:
        """Return the change as JSON-able data."""
        return {"field": self.field, "old": _jsonable(self.old), "new": _jsonable(self.new)}


@dataclass(frozen=True)
class PlanStep:
    """One DingTalk call (or, for link/conflict, one decision) the plan needs."""

    kind: str
    target: str
    key: str
    ident: str
    name: str
    changes: tuple[FieldChange, ...] = ()
    note: str = ""

    @property
    def api(self) -> str:
        """Return the DingTalk endpoint this step calls ('' for link and conflict)."""
        return API.get((self.target, self.kind), "")

    def to_dict(self) -> dict[str, Any]:
        """Return the step as JSON-able data."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "target": self.target,
            "key": self.key,
            "id": self.ident,
            "name": self.name,
            "api": self.api,
            "changes": [c.to_dict() for c in self.changes],
        }
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class Plan:
    """Every step needed to converge, in dependency order, with totals."""

    steps: tuple[PlanStep, ...]

    @property
    def totals(self) -> dict[str, Any]:
        """Return the number of steps per target and kind, and the number of DingTalk calls."""
        counts: Counter[tuple[str, str]] = Counter((s.target, s.kind) for s in self.steps)
        out: dict[str, Any] = {
            target: {kind: counts[(target, kind)] for kind in KINDS if counts[(target, kind)]}
            for target in TARGETS
        }
        out["calls"] = sum(1 for s in self.steps if s.api)
        return out

    def count(self, target: str, kind: str) -> int:
        """Return how many steps of one target and kind the plan holds."""
        return sum(1 for s in self.steps if s.target == target and s.kind == kind)

    def to_dict(self) -> dict[str, Any]:
        """Return the plan as JSON-able data."""
        return {"steps": [s.to_dict() for s in self.steps], "totals": self.totals}


def new_id(key: str) -> str:
    """Return the placeholder id of something the plan creates."""
    return f"new:{key}"


def plan(desired: Projection, current: CurrentState) -> Plan:
    """Diff desired against current state; return the calls that converge them (writes nothing)."""
    # Ids read back from JSON or a database may be text; DingTalk's dept_id is a number.
    current = CurrentState(
        users=current.users,
        departments={int(k): v for k, v in current.departments.items()},
        dept_links={k: int(v) for k, v in current.dept_links.items()},
        user_links=current.user_links,
        role_links=current.role_links,
    )
    dept_steps, dept_ids, dept_deletes = _plan_departments(desired, current)
    role_steps, role_ids, role_deletes = _plan_roles(desired, current)
    user_steps = _plan_users(desired, current, dept_ids, role_ids)
    return Plan(
        steps=tuple(
            dept_steps
            + role_steps
            + user_steps["link"]
            + user_steps["create"]
            + user_steps["update"]
            + user_steps["move"]
            + user_steps["roles"]
            + user_steps["delete"]
            + role_deletes
            + dept_deletes
        )
    )


# --- departments ----------------------------------------------------------------------------


def _plan_departments(
    desired: Projection, current: CurrentState
) -> tuple[list[PlanStep], dict[str, str], list[PlanStep]]:
    ids: dict[str, str] = {ROOT_KEY: str(ROOT_DEPT_ID)}
    linked_ids = {int(v) for v in current.dept_links.values()}
    by_source: dict[str, int] = {}
    for dept_id, dept in current.departments.items():
        src = dept.get("source_identifier")
        if src and int(dept_id) not in linked_ids:
            by_source.setdefault(str(src), int(dept_id))
    links: list[PlanStep] = []
    creates: list[PlanStep] = []
    existing: list[tuple[str, int]] = []
    for key in _parents_first(desired):
        spec = desired.departments[key]
        linked = current.dept_links.get(key)
        if linked is not None and int(linked) in current.departments:
            ids[key] = str(linked)
            existing.append((key, int(linked)))
            continue
        adopt = by_source.pop(spec.source_identifier, None)
        if adopt is not None:
            # A department we made before the link was recorded (an ambiguous write): adopt it.
            ids[key] = str(adopt)
            existing.append((key, adopt))
            links.append(
                PlanStep(
                    "link", "department", key, str(adopt), spec.name, note="same source_identifier"
                )
            )
            continue
        ids[key] = new_id(key)
        parent = ids[spec.parent_key] if spec.parent_key else str(ROOT_DEPT_ID)
        changes = [
            FieldChange("name", None, spec.name),
            FieldChange("parent_id", None, parent),
            FieldChange("source_identifier", None, spec.source_identifier),
        ]
        if spec.order is not None:
            changes.append(FieldChange("order", None, spec.order))
        creates.append(PlanStep("create", "department", key, ids[key], spec.name, tuple(changes)))
    updates: list[PlanStep] = []
    moves: list[PlanStep] = []
    for key, dept_id in existing:
        spec = desired.departments[key]
        now = current.departments[dept_id]
        parent = ids[spec.parent_key] if spec.parent_key else str(ROOT_DEPT_ID)
        if str(now.get("parent_id", ROOT_DEPT_ID)) != parent:
            moves.append(
                PlanStep(
                    "move",
                    "department",
                    key,
                    str(dept_id),
                    spec.name,
                    (FieldChange("parent_id", now.get("parent_id"), parent),),
                )
            )
        changes = []
        if now.get("name") != spec.name:
            changes.append(FieldChange("name", now.get("name"), spec.name))
        if (now.get("source_identifier") or "") != spec.source_identifier:
            changes.append(
                FieldChange(
                    "source_identifier", now.get("source_identifier"), spec.source_identifier
                )
            )
        if spec.order is not None and now.get("order") != spec.order:
            changes.append(FieldChange("order", now.get("order"), spec.order))
        if changes:
            updates.append(
                PlanStep("update", "department", key, str(dept_id), spec.name, tuple(changes))
            )
    deletes = []
    for key, dept_id in current.dept_links.items():
        if key in desired.departments or key == ROOT_KEY:
            continue
        if int(dept_id) not in current.departments:
            continue
        name = str(current.departments[int(dept_id)].get("name", ""))
        deletes.append((_depth(int(dept_id), current), key, int(dept_id), name))
    # dingtalk-api.md §4.3: a department with sub-departments can't be deleted; children first.
    deletes.sort(key=lambda d: (-d[0], d[1]))
    delete_steps = [PlanStep("delete", "department", k, str(i), n) for _, k, i, n in deletes]
    return links + creates + updates + moves, ids, delete_steps


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


# --- roles ----------------------------------------------------------------------------------


def _plan_roles(
    desired: Projection, current: CurrentState
) -> tuple[list[PlanStep], dict[str, str], list[PlanStep]]:
    ids: dict[str, str] = {}
    creates = []
    for key in sorted(desired.roles):
        spec = desired.roles[key]
        if key in current.role_links:
            ids[key] = str(current.role_links[key])
            continue
        ids[key] = new_id(key)
        creates.append(
            PlanStep(
                "create",
                "role",
                key,
                ids[key],
                spec.name,
                (
                    FieldChange("roleName", None, spec.name),
                    FieldChange("group", None, spec.group_name),
                ),
            )
        )
    deletes = [
        PlanStep("delete", "role", key, str(role_id), key)
        for key, role_id in sorted(current.role_links.items())
        if key not in desired.roles
    ]
    return creates, ids, deletes


# --- users ----------------------------------------------------------------------------------


def _norm(name: str, value: Any) -> Any:
    """Normalise a field value so DingTalk's "omitted when empty" equals our "unset"."""
    spec = USER_FIELDS.get(name)
    if name == "extension":
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else {}
            except ValueError:
                return value
        return {str(k): str(v) for k, v in (value or {}).items()}
    if spec is not None and spec.kind == "bool":
        return bool(value)
    if spec is not None and spec.kind == "epoch_ms":
        return int(value) if value not in (None, "") else None
    if value is None:
        return ""
    return str(value)


class _Matcher:
    """Finds people already in DingTalk by mobile, e-mail or job number."""

    def __init__(self, current: CurrentState) -> None:
        claimed = set(current.user_links.values())
        self.index: dict[str, dict[str, list[str]]] = {"mobile": {}, "email": {}, "job_number": {}}
        for userid in sorted(current.users):
            if userid in claimed:
                continue
            person = current.users[userid]
            for field_name, table in self.index.items():
                value = person.get(field_name)
                if value:
                    table.setdefault(_key(field_name, value), []).append(userid)

    def find(self, link_by: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """Return (key, userid) for every match, in the order the rules list the keys."""
        out = []
        for field_name, value in link_by:
            for userid in self.index.get(field_name, {}).get(_key(field_name, value), []):
                out.append((field_name, userid))
        return out


def _key(field_name: str, value: Any) -> str:
    text = str(value).strip()
    return text.casefold() if field_name == "email" else text


def _plan_users(
    desired: Projection,
    current: CurrentState,
    dept_ids: Mapping[str, str],
    role_ids: Mapping[str, str],
) -> dict[str, list[PlanStep]]:
    steps: dict[str, list[PlanStep]] = {
        k: [] for k in ("link", "create", "update", "move", "roles", "delete")
    }
    matcher = _Matcher(current)
    taken = set(current.user_links.values())
    resolved: dict[str, str] = {}  # scim id -> userid it has (or will have) in DingTalk
    exists: dict[str, bool] = {}
    order = sorted(desired.users)
    for scim_id in order:
        user = desired.users[scim_id]
        linked = current.user_links.get(scim_id)
        if linked is not None and linked in current.users:
            resolved[scim_id], exists[scim_id] = linked, True
            continue
        if user.action not in (UPSERT, REMOVE):
            continue
        # The translator's choice: the userid this user is linked to (its person is gone from
        # DingTalk), else the derived one, or this user's own when another link holds that.
        derived = linked or free_userid(user.userid, scim_id, taken)
        if derived is not None and derived in current.users:
            taken.add(derived)
            resolved[scim_id], exists[scim_id] = derived, True
            steps["link"].append(
                PlanStep("link", "user", scim_id, derived, _name(user), note="same userid")
            )
            continue
        if user.action != UPSERT:
            continue
        matches = [(k, u) for k, u in matcher.find(user.link_by) if u not in taken]
        people = list(dict.fromkeys(u for _, u in matches))
        if len(people) == 1 or (people and desired.link_conflict == "first"):
            userid = people[0]
            by = ", ".join(sorted({k for k, u in matches if u == userid}))
            note = f"matched by {by}"
            if len(people) > 1:
                note += f"; also matched {', '.join(people[1:])} (on_conflict: first)"
            taken.add(userid)
            resolved[scim_id], exists[scim_id] = userid, True
            steps["link"].append(PlanStep("link", "user", scim_id, userid, _name(user), note=note))
            continue
        if len(people) > 1 and desired.link_conflict == "skip":
            detail = "; ".join(f"{k} -> {u}" for k, u in matches)
            steps["link"].append(
                PlanStep(
                    "conflict",
                    "user",
                    scim_id,
                    user.userid,
                    _name(user),
                    note=f"matches several DingTalk people ({detail}); not created",
                )
            )
            continue
        if derived is None:
            note = "every userid it may take is held by another SCIM user; not created"
            steps["link"].append(
                PlanStep("conflict", "user", scim_id, user.userid, _name(user), note=note)
            )
            continue
        taken.add(derived)
        resolved[scim_id], exists[scim_id] = derived, False

    def manager_userid(user: UserProjection) -> str | None:
        mid = user.manager_scim_id
        if mid is None:
            return None
        manager = desired.users.get(mid)
        if manager is None or manager.action != UPSERT:
            return None
        return resolved.get(mid)

    created: set[str] = set()
    deferred: list[PlanStep] = []
    for scim_id in _managers_first(desired, order):
        user = desired.users[scim_id]
        if user.action != UPSERT or scim_id not in resolved or exists.get(scim_id):
            continue
        userid = resolved[scim_id]
        changes = [
            FieldChange(name, None, _jsonable(user.fields[name])) for name in sorted(user.fields)
        ]
        changes.append(FieldChange("dept_id_list", None, _dept_list(user, dept_ids)))
        mgr = manager_userid(user)
        mgr_scim = user.manager_scim_id
        if mgr is not None and mgr_scim is not None:
            if exists.get(mgr_scim) or mgr_scim in created:
                changes.append(FieldChange("manager_userid", None, mgr))
            else:
                # The manager is created later (a cycle): set it once both exist.
                deferred.append(
                    PlanStep(
                        "update",
                        "user",
                        scim_id,
                        userid,
                        _name(user),
                        (FieldChange("manager_userid", None, mgr),),
                    )
                )
        created.add(scim_id)
        steps["create"].append(
            PlanStep("create", "user", scim_id, userid, _name(user), tuple(changes))
        )

    for scim_id in order:
        user = desired.users[scim_id]
        if not exists.get(scim_id):
            continue
        userid = resolved[scim_id]
        now = current.users[userid]
        if user.action == REMOVE:
            steps["delete"].append(
                PlanStep(
                    "delete", "user", scim_id, userid, str(now.get("name", "")), note=user.reason
                )
            )
            continue
        if user.action != UPSERT:
            continue
        changes = []
        for name in sorted(set(desired.managed_fields) | set(user.fields)):
            new = user.fields.get(name)
            old = now.get(name)
            if _norm(name, old) != _norm(name, new):
                changes.append(FieldChange(name, old, _jsonable(new)))
        mgr = manager_userid(user)
        if (now.get("manager_userid") or None) != mgr:
            changes.append(FieldChange("manager_userid", now.get("manager_userid"), mgr))
        if changes:
            steps["update"].append(
                PlanStep("update", "user", scim_id, userid, _name(user), tuple(changes))
            )
        new_depts = _dept_list(user, dept_ids)
        old_depts = [str(d) for d in now.get("dept_id_list") or []]
        if sorted(old_depts) != sorted(new_depts):
            steps["move"].append(
                PlanStep(
                    "move",
                    "user",
                    scim_id,
                    userid,
                    _name(user),
                    (FieldChange("dept_id_list", sorted(old_depts), new_depts),),
                )
            )
        old_roles = sorted(str(r.get("id")) for r in now.get("role_list") or [] if r.get("id"))
        managed_roles = {str(v) for v in current.role_links.values()}
        old_roles = [r for r in old_roles if r in managed_roles]
        new_roles = sorted(role_ids[k] for k in user.role_keys if k in role_ids)
        if old_roles != new_roles:
            steps["roles"].append(
                PlanStep(
                    "roles",
                    "user",
                    scim_id,
                    userid,
                    _name(user),
                    (FieldChange("roles", old_roles, new_roles),),
                )
            )
    for scim_id in order:
        user = desired.users[scim_id]
        if user.action == UPSERT and scim_id in created and user.role_keys:
            new_roles = sorted(role_ids[k] for k in user.role_keys if k in role_ids)
            steps["roles"].append(
                PlanStep(
                    "roles",
                    "user",
                    scim_id,
                    resolved[scim_id],
                    _name(user),
                    (FieldChange("roles", [], new_roles),),
                )
            )
    steps["update"] = deferred + steps["update"]
    # A SCIM user deleted outright is no longer in the projection, but is still linked.
    for scim_id, userid in sorted(current.user_links.items()):
        if scim_id not in desired.users and userid in current.users:
            name = str(current.users[userid].get("name", ""))
            steps["delete"].append(
                PlanStep("delete", "user", scim_id, userid, name, note="deleted from SCIM")
            )
    return steps


def _managers_first(desired: Projection, order: list[str]) -> list[str]:
    depth: dict[str, int] = {}
    for scim_id in order:
        chain: list[str] = []
        probe: str | None = scim_id
        while probe is not None and probe not in depth and probe not in chain:
            chain.append(probe)
            user = desired.users.get(probe)
            probe = user.manager_scim_id if user else None
        base = depth.get(probe, -1) if probe is not None and probe not in chain else -1
        for k in reversed(chain):
            base += 1
            depth[k] = base
    return sorted(order, key=lambda s: (depth.get(s, 0), s))


def _dept_list(user: UserProjection, dept_ids: Mapping[str, str]) -> list[str]:
    return sorted({dept_ids.get(k, new_id(k)) for k in user.department_keys})


def _name(user: UserProjection) -> str:
    return str(user.fields.get("name", ""))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


# --- rendering ------------------------------------------------------------------------------


def render_plan(result: Plan, fmt: str = "table") -> str:
    """Render a plan as a table for people or as JSON for tools."""
    if fmt == "json":
        # Compact: indent would take the pure-Python encoder, several times slower at 100k.
        return json.dumps(result.to_dict(), ensure_ascii=False, separators=(",", ":")) + "\n"
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}; use table or json")
    lines = [f"{'#':>6}  {'ACTION':<8} {'TARGET':<10} {'ID':<24} {'NAME':<24} KEY"]
    for n, step in enumerate(result.steps, 1):
        lines.append(
            f"{n:>6}  {step.kind:<8} {step.target:<10} {_cut(step.ident, 24):<24} "
            f"{_cut(step.name, 24):<24} {step.key}"
        )
        for change in step.changes:
            if step.kind == "create":
                lines.append(f"{'':>16}{change.field}: {_show(change.new)}")
            else:
                lines.append(f"{'':>16}{change.field}: {_show(change.old)} -> {_show(change.new)}")
        if step.note:
            lines.append(f"{'':>16}({step.note})")
    lines.append("")
    lines.append("Totals")
    totals = result.totals
    for target in TARGETS:
        for kind, count in totals[target].items():
            lines.append(f"  {target:<10} {kind:<8} {count:>8}")
    lines.append(f"  {'DingTalk calls':<19} {totals['calls']:>8}")
    if not result.steps:
        lines.append("Nothing to do: DingTalk already matches the directory.")
    return "\n".join(lines) + "\n"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _show(value: Any) -> str:
    if value is None:
        return "-"
    return json.dumps(_jsonable(value), ensure_ascii=False)
