"""The dry run's people: each SCIM user's operations, decided by decide.py, ids resolved.

The userid a user gets, the person it is linked to, the empty-value rules, the manager and the
roles are decide.py's rules; this module only walks the directory in an order that lets one
person's decision use another's (a manager created earlier in the plan has a userid already).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scim_bridge.mapping.model import REMOVE, UPSERT, Projection, UserProjection
from scim_bridge.sync import decide
from scim_bridge.sync.decide import Kind, Operation, Target
from scim_bridge.sync.decide_departments import new_id

if TYPE_CHECKING:
    from scim_bridge.sync.plan import CurrentState


@dataclass
class _People:
    """Who is (or will be) which DingTalk person, as the plan goes."""

    holders: dict[str, str]  # userid -> SCIM id holding it
    resolved: dict[str, str] = field(default_factory=dict)  # SCIM id -> userid
    exists: set[str] = field(default_factory=set)  # SCIM ids whose person DingTalk has


def plan_users(
    desired: Projection,
    current: CurrentState,
    dept_ids: Mapping[str, str],
    role_ids: Mapping[str, str],
) -> list[Operation]:
    """Decide every person's operations: links, creates, updates, moves, roles, deletes."""
    people = _People(holders={u: s for s, u in current.user_links.items()})
    links = _resolve(desired, current, people)
    creates, deferred = _creates(desired, people, dept_ids)
    updates: list[Operation] = []
    moves: list[Operation] = []
    roles: list[Operation] = []
    deletes: list[Operation] = []
    for scim_id in sorted(desired.users):
        user = desired.users[scim_id]
        userid = people.resolved.get(scim_id)
        if userid is None or user.action not in (UPSERT, REMOVE):
            continue
        held = current.users.get(userid)
        if user.action == REMOVE:
            if held is not None:
                name = str(held.get("name", ""))
                deletes.append(decide.remove_user(scim_id, userid, name, reason=user.reason))
            continue
        wanted_roles = [role_ids[k] for k in user.role_keys if k in role_ids]
        if held is None:  # created by this plan: it starts with no role of ours
            op = decide.set_roles(scim_id, userid, _name(user), held=[], wanted=wanted_roles)
            roles += [op] if op is not None else []
            continue
        for op in decide.update_user(
            scim_id,
            userid,
            held,
            user.fields,
            dept_ids=_dept_ids(user, dept_ids),
            manager_userid=_manager(desired, people, user),
            managed=desired.managed_fields,
        ):
            (moves if op.kind == Kind.MOVE else updates).append(op)
        op = decide.set_roles(
            scim_id,
            userid,
            _name(user),
            held=_held_roles(current, scim_id, held),
            wanted=wanted_roles,
        )
        roles += [op] if op is not None else []
    # A SCIM user deleted outright is no longer in the projection, but is still linked.
    for scim_id, userid in sorted(current.user_links.items()):
        if scim_id not in desired.users and userid in current.users:
            name = str(current.users[userid].get("name", ""))
            deletes.append(decide.remove_user(scim_id, userid, name, reason=decide.DELETED_IN_IDP))
    return links + creates + deferred + updates + moves + roles + deletes


def _resolve(desired: Projection, current: CurrentState, people: _People) -> list[Operation]:
    """Give every user the person it has or will have; return the link and conflict steps."""
    index = _Index(current)
    out: list[Operation] = []
    for scim_id in sorted(desired.users):
        user = desired.users[scim_id]
        linked = current.user_links.get(scim_id)
        if linked is not None and linked in current.users:
            people.resolved[scim_id] = linked
            people.exists.add(scim_id)
            continue
        if user.action != UPSERT:
            continue  # a leaver with no person in DingTalk: nothing to remove
        choice = decide.choose_person(
            scim_id,
            derived=user.userid,
            known=linked,
            matches=index.find(user.link_by),
            exists=current.users,
            holders=people.holders,
            on_conflict=desired.link_conflict,
        )
        name = _name(user)
        if choice.kind == Kind.CONFLICT:
            why = f"{choice.reason}; held by {choice.holder}" if choice.holder else choice.reason
            out.append(
                Operation(
                    Kind.CONFLICT,
                    Target.USER,
                    scim_id,
                    choice.userid,
                    name,
                    reason=f"{why}; not created",
                )
            )
            continue
        people.holders[choice.userid] = scim_id
        people.resolved[scim_id] = choice.userid
        if choice.kind == Kind.LINK:
            people.exists.add(scim_id)
            out.append(
                Operation(
                    Kind.LINK, Target.USER, scim_id, choice.userid, name, reason=choice.reason
                )
            )
    return out


def _creates(
    desired: Projection, people: _People, dept_ids: Mapping[str, str]
) -> tuple[list[Operation], list[Operation]]:
    """Create people managers first; a manager created later (a cycle) is set by an update."""
    creates: list[Operation] = []
    deferred: list[Operation] = []
    done: set[str] = set()
    for scim_id in _managers_first(desired):
        user = desired.users[scim_id]
        if user.action != UPSERT or scim_id not in people.resolved or scim_id in people.exists:
            continue
        userid = people.resolved[scim_id]
        manager = _manager(desired, people, user)
        ready = manager is not None and (
            user.manager_scim_id in people.exists or user.manager_scim_id in done
        )
        creates.append(
            decide.create_user(
                scim_id,
                userid,
                user.fields,
                dept_ids=_dept_ids(user, dept_ids),
                manager_userid=manager if ready else None,
                reason=decide.pending_manager(user.manager_scim_id, manager),
            )
        )
        if manager is not None and not ready:
            change = decide.manager_change(None, manager)
            assert change is not None
            deferred.append(
                Operation(Kind.UPDATE, Target.USER, scim_id, userid, _name(user), (change,))
            )
        done.add(scim_id)
    return creates, deferred


def _manager(desired: Projection, people: _People, user: UserProjection) -> str | None:
    mid = user.manager_scim_id
    manager = desired.users.get(mid) if mid is not None else None
    if mid is None or manager is None or manager.action != UPSERT:
        return None
    return people.resolved.get(mid)


def _held_roles(current: CurrentState, scim_id: str, held: Mapping[str, Any]) -> list[str]:
    """Roles of ours the person holds: from the link's snapshot, else from a live read."""
    if scim_id in current.user_roles:
        return list(current.user_roles[scim_id])
    ours = {str(v) for v in current.role_links.values()}
    live = (str(r.get("id")) for r in held.get("role_list") or [] if r.get("id"))
    return [r for r in live if r in ours]


def _managers_first(desired: Projection) -> list[str]:
    order = sorted(desired.users)
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


def _dept_ids(user: UserProjection, dept_ids: Mapping[str, str]) -> list[str]:
    return [dept_ids.get(k, new_id(k)) for k in user.department_keys]


def _name(user: UserProjection) -> str:
    return str(user.fields.get("name", ""))


class _Index:
    """Finds people already in DingTalk by mobile, e-mail or job number (the link keys)."""

    def __init__(self, current: CurrentState) -> None:
        self.index: dict[str, dict[str, list[str]]] = {"mobile": {}, "email": {}, "job_number": {}}
        for userid in sorted(current.users):
            person = current.users[userid]
            for field_name, table in self.index.items():
                value = person.get(field_name)
                if value:
                    table.setdefault(_key(field_name, value), []).append(userid)

    def find(self, link_by: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """Return (key, userid) for every match, in the order the rules list the keys."""
        return [
            (field_name, userid)
            for field_name, value in link_by
            for userid in self.index.get(field_name, {}).get(_key(field_name, value), [])
        ]


def _key(field_name: str, value: Any) -> str:
    text = str(value).strip()
    return text.casefold() if field_name != "mobile" else text
