"""Drift, decided purely: the operations decide.py makes against a live read, classified.

Reconcile does not compare on its own: it hands plan.py (the same engine the translator and
``scim-bridge plan`` use) the mapping's projection and what DingTalk holds *now*, and names each
operation that engine would make as a kind of drift (issue 10). So reconcile and the translator
cannot disagree on what "different" means: one set of normalisation rules (decide.field_changes,
is_empty, _norm) decides both. No session, no client, no clock here.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from scim_bridge.mapping.departments import unescape
from scim_bridge.mapping.model import ROOT_DEPT_ID, UPSERT, Projection
from scim_bridge.sync import decide
from scim_bridge.sync.decide import DEPT_LIST, MANAGER, Kind, Operation, Target
from scim_bridge.sync.plan import CurrentState, plan

USER_MISSING = "user_missing"
USER_FIELD = "user_field"
USER_DEPARTMENTS = "user_departments"
USER_ORPHAN = "user_orphan"
DEPARTMENT_MISSING = "department_missing"
DEPARTMENT_FIELD = "department_field"
DEPARTMENT_ORPHAN = "department_orphan"
STALE_LINK = "stale_link"
KINDS = (
    USER_MISSING,
    USER_FIELD,
    USER_DEPARTMENTS,
    USER_ORPHAN,
    DEPARTMENT_MISSING,
    DEPARTMENT_FIELD,
    DEPARTMENT_ORPHAN,
    STALE_LINK,
)
#: Kinds that make a managed person's DingTalk record wrong (the accuracy's numerator).
WRONG_PERSON = frozenset({USER_MISSING, USER_FIELD, USER_DEPARTMENTS, STALE_LINK})

#: Why DingTalk differs (issue 10): edited there, our change not applied yet, or the IdP's.
OUT_OF_BAND = "out_of_band"
BRIDGE_LAG = "bridge_lag"
IDP_CHANGE_PENDING = "idp_change_pending"

USER, DEPARTMENT = "user", "department"
_GROUP_PREFIX = "group:"


@dataclass(frozen=True)
class Drift:
    """One difference between what DingTalk holds and what the directory says it should."""

    kind: str
    target: str  # user | department
    key: str  # the SCIM user id or the department key; "" for something not ours
    dingtalk_id: str | None
    fields: tuple[str, ...] = ()
    cause: str = ""
    detail: str = ""
    changes: tuple[decide.FieldChange, ...] = ()

    @property
    def scim_id(self) -> str | None:
        """Return the SCIM id it concerns: the user, or the group a department stands for."""
        if not self.key:
            return None
        if self.target == DEPARTMENT:
            return group_id_of(self.key) or self.key
        return self.key

    def to_dict(self) -> dict[str, Any]:
        """Return the item as the JSON report shows it."""
        return {
            "kind": self.kind,
            "scim_id": self.scim_id,
            "dingtalk_id": self.dingtalk_id,
            "fields": list(self.fields),
            "target": self.target,
            "key": self.key or None,
            "cause": self.cause,
            "detail": self.detail,
            "changes": [c.to_dict() for c in self.changes],
        }


@dataclass(frozen=True)
class Known:
    """What the bridge knows besides the live read: last-applied snapshots, pending work."""

    #: {scim user id: snapshot of its synced link}
    user_snapshots: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: {department key: snapshot of its synced link}
    dept_snapshots: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: ("User"|"Group", SCIM id) with an outbox row or a dead letter
    pending: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class Scope:
    """What a targeted or incremental reconcile looked at (None: everything)."""

    users: frozenset[str]  # SCIM user ids
    departments: frozenset[str]  # department keys
    orphans: frozenset[str] = frozenset()  # userids read live that may be orphans
    orphan_departments: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Comparison:
    """The drift found and the contact accuracy over the managed people compared."""

    compared: int
    exact: int
    departments_compared: int
    drift: tuple[Drift, ...]

    @property
    def accuracy_percent(self) -> float:
        """Return the share of managed people whose DingTalk record is exactly right."""
        if not self.compared:
            return 100.0
        return round(100.0 * self.exact / self.compared, 2)

    @property
    def by_kind(self) -> dict[str, int]:
        """Return how many items of each kind (every kind named, zero included)."""
        counts = dict.fromkeys(KINDS, 0)
        for item in self.drift:
            counts[item.kind] = counts.get(item.kind, 0) + 1
        return counts


def group_id_of(key: str) -> str | None:
    """Return the SCIM group id a department key stands for, or None (not a group's)."""
    return unescape(key[len(_GROUP_PREFIX) :]) if key.startswith(_GROUP_PREFIX) else None


def compare(
    desired: Projection, current: CurrentState, known: Known, *, scope: Scope | None = None
) -> Comparison:
    """Classify every operation the decision engine would make against ``current``."""
    items: dict[tuple[str, str, str], Drift] = {}
    stale = _stale_links(current, scope)
    for item in stale:
        items[(item.kind, item.target, item.key)] = item
    adopted_users, adopted_depts = _from_plan(desired, current, scope, stale, items)
    for item in _orphans(current, scope, adopted_users, adopted_depts):
        items[(item.kind, item.target, item.dingtalk_id or "")] = item
    drift = tuple(
        _with_cause(item, desired, current, known) for item in sorted(items.values(), key=_order)
    )
    managed = [
        s
        for s, u in desired.users.items()
        if u.action == UPSERT and (scope is None or s in scope.users)
    ]
    wrong = {i.key for i in drift if i.target == USER and i.kind in WRONG_PERSON}
    depts = [k for k in desired.departments if scope is None or k in scope.departments]
    return Comparison(
        compared=len(managed),
        exact=sum(1 for s in managed if s not in wrong),
        departments_compared=len(depts),
        drift=drift,
    )


def _from_plan(
    desired: Projection,
    current: CurrentState,
    scope: Scope | None,
    stale: list[Drift],
    items: dict[tuple[str, str, str], Drift],
) -> tuple[set[str], set[str]]:
    """Add the drift the engine's plan shows; return the people and departments it would adopt."""
    gone = {(i.target, i.key) for i in stale}
    adopted_users: set[str] = set()
    adopted_depts: set[str] = set()
    for op in plan(desired, current).steps:
        if op.kind == Kind.LINK:
            (adopted_users if op.target == Target.USER else adopted_depts).add(op.ident)
        found = _classify(op, gone)
        if found is None or not _in_scope(found, scope):
            continue
        slot = (found.kind, found.target, found.key)
        prior = items.get(slot)
        if prior is not None:  # a rename and a move of one department: one item, both fields
            found = Drift(
                found.kind,
                found.target,
                found.key,
                found.dingtalk_id,
                tuple(sorted(set(prior.fields) | set(found.fields))),
                changes=prior.changes + found.changes,
            )
        items[slot] = found
    return adopted_users, adopted_depts


def _order(item: Drift) -> tuple[int, str, str]:
    return (KINDS.index(item.kind), item.key, item.dingtalk_id or "")


def _in_scope(item: Drift, scope: Scope | None) -> bool:
    if scope is None:
        return True
    wanted = scope.users if item.target == USER else scope.departments
    return item.key in wanted


def _classify(op: Operation, gone: Collection[tuple[str, str]]) -> Drift | None:
    """Name the drift an operation repairs (None: roles, or already a stale link)."""
    fields = tuple(sorted({c.field for c in op.changes}))
    if op.target == Target.USER:
        if (USER, op.key) in gone:
            return None  # its link points at a person who is gone: one stale_link item
        if op.kind in (Kind.CREATE, Kind.LINK, Kind.CONFLICT):
            return Drift(USER_MISSING, USER, op.key, _real(op.ident), detail=op.reason)
        if op.kind == Kind.UPDATE:
            return Drift(USER_FIELD, USER, op.key, op.ident, fields, changes=op.changes)
        if op.kind == Kind.MOVE:
            return Drift(USER_DEPARTMENTS, USER, op.key, op.ident, fields, changes=op.changes)
        if op.kind in (Kind.DELETE, Kind.UNLINK):
            # A leaver (or a deleted SCIM user) still in DingTalk: no longer ours to keep.
            return Drift(USER_ORPHAN, USER, op.key, op.ident, detail=op.reason or "a leaver")
        return None  # roles: v2/user/list does not show them; not compared (report says so)
    if op.target != Target.DEPARTMENT or (DEPARTMENT, op.key) in gone:
        return None
    if op.kind in (Kind.CREATE, Kind.LINK):
        return Drift(DEPARTMENT_MISSING, DEPARTMENT, op.key, _real(op.ident), detail=op.reason)
    if op.kind in (Kind.UPDATE, Kind.MOVE):
        return Drift(DEPARTMENT_FIELD, DEPARTMENT, op.key, op.ident, fields, changes=op.changes)
    if op.kind == Kind.DELETE:
        return Drift(DEPARTMENT_ORPHAN, DEPARTMENT, op.key, op.ident, detail="no longer wanted")
    return None


def _real(ident: str) -> str | None:
    """Return a DingTalk id, or None for the placeholder of something the plan would create."""
    return None if ident.startswith("new:") else ident


def _stale_links(current: CurrentState, scope: Scope | None) -> list[Drift]:
    """Links the bridge holds as synced whose DingTalk record is gone."""
    out = [
        Drift(STALE_LINK, USER, key, userid, detail="the DingTalk person is gone")
        for key, userid in current.user_links.items()
        if userid not in current.users and (scope is None or key in scope.users)
    ]
    out += [
        Drift(STALE_LINK, DEPARTMENT, key, str(dept_id), detail="the department is gone")
        for key, dept_id in current.dept_links.items()
        if int(dept_id) not in current.departments
        and int(dept_id) != ROOT_DEPT_ID
        and (scope is None or key in scope.departments)
    ]
    return out


def _orphans(
    current: CurrentState, scope: Scope | None, users: set[str], depts: set[str]
) -> list[Drift]:
    """People and departments in DingTalk that no link of ours holds (and none will adopt)."""
    linked = set(current.user_links.values())
    people = current.users if scope is None else scope.orphans
    out = [
        Drift(USER_ORPHAN, USER, "", userid, detail=str(current.users[userid].get("name") or ""))
        for userid in sorted(people)
        if userid in current.users and userid not in linked and userid not in users
    ]
    ours = {int(d) for d in current.dept_links.values()}
    dept_ids = current.departments if scope is None else scope.orphan_departments
    out += [
        Drift(
            DEPARTMENT_ORPHAN,
            DEPARTMENT,
            "",
            str(dept_id),
            detail=str(current.departments[dept_id].get("name") or ""),
        )
        for dept_id in sorted(dept_ids)
        if dept_id in current.departments
        and dept_id not in ours
        and dept_id != ROOT_DEPT_ID
        and str(dept_id) not in depts
    ]
    return out


def _with_cause(item: Drift, desired: Projection, current: CurrentState, known: Known) -> Drift:
    """Attribute one item: our own change not applied yet, an IdP change, or DingTalk's edit."""
    cause = _cause(item, desired, current, known)
    return Drift(
        item.kind,
        item.target,
        item.key,
        item.dingtalk_id,
        item.fields,
        cause,
        item.detail,
        item.changes,
    )


def _cause(item: Drift, desired: Projection, current: CurrentState, known: Known) -> str:
    scim_id = item.scim_id
    resource = ("User" if item.target == USER else "Group", scim_id or "")
    if scim_id and resource in known.pending:
        return BRIDGE_LAG  # an outbox row or a dead letter: the bridge has not applied it yet
    if item.kind in (STALE_LINK, DEPARTMENT_ORPHAN, USER_ORPHAN) and not item.key:
        return OUT_OF_BAND
    if item.kind == STALE_LINK:
        return OUT_OF_BAND
    if item.kind in (USER_FIELD, USER_DEPARTMENTS):
        snapshot = known.user_snapshots.get(item.key)
        live = current.users.get(item.dingtalk_id or "")
        if snapshot is not None and live is not None and _person_differs(item, live, snapshot):
            return OUT_OF_BAND
    if item.kind == DEPARTMENT_FIELD:
        snapshot = known.dept_snapshots.get(item.key)
        live = current.departments.get(int(item.dingtalk_id or 0))
        if snapshot is not None and live is not None and _department_differs(live, snapshot):
            return OUT_OF_BAND
    return IDP_CHANGE_PENDING


def _person_differs(item: Drift, live: Mapping[str, Any], snapshot: Mapping[str, Any]) -> bool:
    """Whether DingTalk differs from what the bridge last applied (decide.py's own rules)."""
    fields = {k: v for k, v in snapshot.items() if k not in (DEPT_LIST, MANAGER)}
    fields = {k: v for k, v in fields.items() if not k.startswith("_")}
    ops = decide.update_user(
        item.key,
        item.dingtalk_id or "",
        live,
        fields,
        dept_ids=snapshot.get(DEPT_LIST) or [],
        manager_userid=snapshot.get(MANAGER),
    )
    return bool(ops)


def _department_differs(live: Mapping[str, Any], snapshot: Mapping[str, Any]) -> bool:
    """Whether a department differs from what the bridge last applied to it."""
    for name in ("name", "parent_id", "source_identifier", "order"):
        applied = snapshot.get(name)
        if applied is not None and str(live.get(name)) != str(applied):
            return True
    return False
