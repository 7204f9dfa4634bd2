"""The Group service: membership is changed row by row, so a PATCH costs what it changes.

Membership is seen through the caller's scope (``Context.scope``): a member id of another IdP
is treated exactly as an id that does not exist, and a change never touches the memberships
it cannot see (a shared token may have put another IdP's user in this IdP's group).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from scim_bridge.directory import audit, member_rows, rows
from scim_bridge.directory.models import Group, GroupMember, User
from scim_bridge.directory.outbox import Lane, mark_changed
from scim_bridge.directory.prepared import Cursor
from scim_bridge.directory.queries import FilterCompiler, PageHints, list_page, visible_member
from scim_bridge.directory.rows import Context
from scim_bridge.errors import InvalidValue
from scim_bridge.scim import patch as scim_patch
from scim_bridge.scim import resources
from scim_bridge.scim.listing import ListQuery
from scim_bridge.scim.schema import registry

log = logging.getLogger(__name__)

NOT_STORED = ("id", "meta", "schemas", "members")


def _index(row: Group, doc: Mapping[str, Any]) -> None:
    row.display_name = str(doc["displayName"])
    row.display_name_key = row.display_name.lower()
    row.external_id = rows.optional_text(doc.get("externalId"))
    rows.check_fits(row)


def _check_unique(session: Session, row: Group, *, exclude_id: str | None) -> None:
    rows.check_unique(
        Cursor.of(session),
        row,
        name_key=row.display_name_key,
        taken=rows.taken("displayName", row.display_name),
        exclude_id=exclude_id,
    )


def _member_ids(members: Iterable[Any]) -> list[str]:
    ids: list[str] = []
    for m in members:
        value = m.get("value") if isinstance(m, Mapping) else m
        if value is None or str(value) == "":
            raise InvalidValue("every member needs a value (the member's id)")
        ids.append(str(value))
    return list(dict.fromkeys(ids))


def _resolve_member_types(
    session: Session, ids: Sequence[str], group_id: str, ctx: Context
) -> dict[str, str]:
    """Map each id to "User" or "Group"; an id naming neither (in the caller's IdP) is a 400
    or skipped, as the profile says."""
    scope = ctx.scope
    types: dict[str, str] = {}
    users, groups = select(User.id), select(Group.id)
    if scope is not None:
        # Another IdP's id is answered as an unknown one: nothing tells that it exists.
        users, groups = users.where(User.idp == scope), groups.where(Group.idp == scope)
    for start in range(0, len(ids), member_rows.CHUNK):
        chunk = list(ids[start : start + member_rows.CHUNK])
        types.update({i: "User" for i in session.scalars(users.where(User.id.in_(chunk)))})
        types.update({i: "Group" for i in session.scalars(groups.where(Group.id.in_(chunk)))})
    missing = [i for i in ids if i not in types]
    if missing:
        _unknown_members(missing, group_id, ctx)
    if group_id in types:
        raise InvalidValue("a group cannot be a member of itself")
    return types


def _unknown_members(missing: Sequence[str], group_id: str, ctx: Context) -> None:
    """Refuse member ids that name no resource, or (Okta/Entra profiles) log and skip them."""
    if not ctx.ignore_unknown_members:
        shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
        # RFC 7643 §4.2: "value" holds "the value of an "id" attribute of a SCIM resource".
        raise InvalidValue(f"members must be existing Users or Groups; unknown id(s): {shown}")
    # The IdP's profile asks for success: the ids are skipped (never stored), and said so here,
    # each cut short and quoted so a hostile id cannot forge log lines.
    log.warning(
        "group %s: token %s: skipped %d member id(s) that name no User or Group: %s",
        group_id,
        ctx.actor,
        len(missing),
        ", ".join(repr(i[:64]) for i in missing[:5]),
    )


class _MembershipDelta:
    """Members added and removed by one request, for the outbox and the version bump."""

    def __init__(self) -> None:
        self.changed: dict[str, str] = {}
        # For the audit trail: which ids joined and which left, in the order they did.
        self.added: dict[str, None] = {}
        self.removed: dict[str, None] = {}

    def note(self, members: Mapping[str, str], *, added: bool) -> None:
        self.changed.update(members)
        (self.added if added else self.removed).update(dict.fromkeys(members))

    def audited(self) -> dict[str, Any]:
        """Return the membership change as the audit trail records it."""
        out: dict[str, Any] = {}
        if self.added:
            out["added"] = list(self.added)
        if self.removed:
            out["removed"] = list(self.removed)
        return out

    def __bool__(self) -> bool:
        return bool(self.changed)


def _add(
    session: Session, row: Group, ids: Sequence[str], ctx: Context, delta: _MembershipDelta
) -> None:
    present = member_rows.existing_members(session, row.id, ids, scope=ctx.scope)
    new_ids = [i for i in ids if i not in present]
    if not new_ids:
        return
    types = _resolve_member_types(session, new_ids, row.id, ctx)
    if types:
        member_rows.insert_members(session, row.id, types)
        delta.note(types, added=True)


def _remove(
    session: Session, row: Group, ids: Sequence[str], delta: _MembershipDelta, scope: str | None
) -> None:
    present = member_rows.existing_members(session, row.id, ids, scope=scope)
    if present:
        member_rows.delete_members(session, row.id, list(present))
        delta.note(present, added=False)


def _replace(
    session: Session, row: Group, ids: Sequence[str], ctx: Context, delta: _MembershipDelta
) -> None:
    current = member_rows.all_members(session, row.id, scope=ctx.scope)
    wanted = set(ids)
    gone = [i for i in current if i not in wanted]
    if gone:
        member_rows.delete_members(session, row.id, gone)
        delta.note({i: current[i] for i in gone}, added=False)
    _add(session, row, [i for i in ids if i not in current], ctx, delta)


def _apply_member_change(
    session: Session,
    row: Group,
    change: scim_patch.MemberChange,
    ctx: Context,
    delta: _MembershipDelta,
) -> None:
    scope = ctx.scope
    if change.kind == "add":
        _add(session, row, change.ids, ctx, delta)
    elif change.kind == "remove":
        _remove(session, row, change.ids, delta, scope)
    elif change.kind == "replace":
        if ctx.additive_member_replace:
            _add(session, row, change.ids, ctx, delta)
        else:
            _replace(session, row, change.ids, ctx, delta)
    elif change.kind == "remove_all":
        current = member_rows.all_members(session, row.id, scope=scope)
        if current:
            member_rows.delete_members(session, row.id, list(current))
            delta.note(current, added=False)
    elif change.kind == "remove_where":
        assert change.filter is not None
        dialect = session.get_bind().dialect.name
        cond = FilterCompiler("Group", dialect, scope=scope)._member_condition(change.filter)
        matched = dict(
            session.execute(
                select(GroupMember.member_id, GroupMember.member_type).where(
                    GroupMember.group_id == row.id, cond, visible_member(scope)
                )
            ).all()
        )
        if matched:
            member_rows.delete_members(session, row.id, list(matched))
            delta.note(matched, added=False)
    else:  # pragma: no cover - patch.split_member_operations emits only the kinds above
        raise InvalidValue(f"unsupported member change {change.kind!r}")


def _record(
    session: Session,
    ctx: Context,
    group_id: str,
    operation: str,
    status: int,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    delta: _MembershipDelta | None = None,
) -> None:
    """Append the audit record of a Group write, in its transaction (directory/audit.py)."""
    if not ctx.audit:
        return  # the trail is off: its diff is not worth computing either
    changes = audit.diff(before, after)
    members = delta.audited() if delta is not None else {}
    if members:
        changes["members"] = members
    audit.record_change(
        Cursor.of(session),
        ctx,
        resource_type="Group",
        resource_id=group_id,
        operation=operation,
        status=status,
        changes=changes,
    )


def _touch(
    session: Session,
    row: Group,
    ctx: Context,
    delta: _MembershipDelta,
    *,
    doc_changed: bool,
    audited: tuple[str, Mapping[str, Any]],
) -> None:
    operation, before = audited
    _record(session, ctx, row.id, operation, 200, before, row.data, delta)
    if not doc_changed and not delta:
        return
    rows.bump(row, ctx)
    mark_changed(session, "Group", [row.id], actor=ctx.actor, now=ctx.now, lane=Lane.UPDATE)
    users = [i for i, t in delta.changed.items() if t == "User"]
    # A membership change moves people between DingTalk departments: each is re-projected.
    # Issue 14: a change to existing people (the IdPs send leavers as active=false or DELETE).
    mark_changed(session, "User", users, actor=ctx.actor, now=ctx.now, lane=Lane.UPDATE)


def create_group(session: Session, body: Mapping[str, Any], ctx: Context) -> Group:
    """Create a Group with its initial members (RFC 7644 §3.3)."""
    rt = registry().group
    doc = resources.normalize(rt, body, compat=ctx.compat)
    resources.require(rt, doc)
    row = rows.new_row(Group, ctx, rows.stored_part(doc, NOT_STORED))
    _index(row, doc)
    _check_unique(session, row, exclude_id=None)
    session.add(row)
    rows.flush(session, "displayName", row.display_name)
    ids = _member_ids(doc.get("members") or ())
    delta = _MembershipDelta()
    types = _resolve_member_types(session, ids, row.id, ctx) if ids else {}
    if types:
        member_rows.insert_members(session, row.id, types)
        delta.note(types, added=True)
    mark_changed(session, "Group", [row.id], actor=ctx.actor, now=ctx.now, lane=Lane.BULK)
    mark_changed(
        session,
        "User",
        [i for i, t in delta.changed.items() if t == "User"],
        actor=ctx.actor,
        now=ctx.now,
        lane=Lane.UPDATE,
    )
    _record(session, ctx, row.id, "POST", 201, None, row.data, delta)
    return row


def get_group(session: Session, group_id: str, *, scope: str | None) -> Group:
    """Return a Group by id as ``scope`` sees it, or raise 404 (also when another IdP's)."""
    return rows.load(session, Group, group_id, scope=scope, for_update=False)


def _store_document(session: Session, row: Group, doc: Mapping[str, Any]) -> bool:
    resources.require(registry().group, doc)
    stored = rows.stored_part(doc, NOT_STORED)
    if stored == row.data:
        return False
    row.data = stored
    name_key = row.display_name_key
    _index(row, doc)
    if row.display_name_key != name_key:
        _check_unique(session, row, exclude_id=row.id)
    rows.flush(session, "displayName", row.display_name)
    return True


def replace_group(
    session: Session,
    group_id: str,
    body: Mapping[str, Any],
    ctx: Context,
    *,
    if_match: str | None = None,
) -> Group:
    """Replace a Group and its member list (PUT, RFC 7644 §3.5.1)."""
    row = rows.load_for_change(session, Group, group_id, ctx, if_match=if_match)
    before = row.data
    rt = registry().group
    incoming = resources.normalize(rt, body, compat=ctx.compat)
    doc = resources.replace(rt, {"id": row.id, **row.data}, incoming)
    changed = _store_document(session, row, doc)
    delta = _MembershipDelta()
    _replace(session, row, _member_ids(incoming.get("members") or ()), ctx, delta)
    _touch(session, row, ctx, delta, doc_changed=changed, audited=("PUT", before))
    return row


def patch_group(
    session: Session,
    group_id: str,
    body: Mapping[str, Any],
    ctx: Context,
    *,
    if_match: str | None = None,
) -> Group:
    """Apply a PATCH to a Group; member operations touch only the members they name."""
    ops = scim_patch.parse_patch(body, lenient=ctx.compat.lenient_filters)
    member_changes, other_ops = scim_patch.split_member_operations(ops)
    row = rows.load_for_change(session, Group, group_id, ctx, if_match=if_match)
    before = row.data
    changed = False
    if other_ops:
        doc = scim_patch.apply_patch(
            registry().group, {"id": row.id, **row.data}, other_ops, compat=ctx.compat
        )
        changed = _store_document(session, row, doc)
    delta = _MembershipDelta()
    for change in member_changes:
        _apply_member_change(session, row, change, ctx, delta)
    _touch(session, row, ctx, delta, doc_changed=changed, audited=("PATCH", before))
    return row


def delete_group(
    session: Session, group_id: str, ctx: Context, *, if_match: str | None = None
) -> None:
    """Delete a Group; its members are re-projected (they leave its department)."""
    row = rows.load_for_change(session, Group, group_id, ctx, if_match=if_match)
    before = row.data
    # Every member leaves with the group, those of other IdPs (a shared token's doing) too.
    members = member_rows.all_members(session, group_id, scope=None)
    parents = list(
        session.scalars(select(GroupMember.group_id).where(GroupMember.member_id == group_id))
    )
    session.execute(delete(GroupMember).where(GroupMember.group_id == group_id))
    if parents:
        session.execute(delete(GroupMember).where(GroupMember.member_id == group_id))
        session.execute(
            update(Group)
            .where(Group.id.in_(parents))
            .values(version=Group.version + 1, last_modified=ctx.now, modified_by=ctx.actor)
        )
    session.delete(row)
    mark_changed(
        session, "Group", [group_id, *parents], actor=ctx.actor, now=ctx.now, lane=Lane.UPDATE
    )
    mark_changed(
        session,
        "User",
        [i for i, t in members.items() if t == "User"],
        actor=ctx.actor,
        now=ctx.now,
        lane=Lane.UPDATE,
    )
    gone = _MembershipDelta()
    gone.note(members, added=False)
    _record(session, ctx, group_id, "DELETE", 204, before, None, gone)


# --- reads -----------------------------------------------------------------------------------


def members_of(
    session: Session, group_id: str, *, scope: str | None
) -> list[tuple[str, str, str | None]]:
    """Return a group's members as (id, type, display) in a stable order; only those
    ``scope`` sees."""
    user_display = func.coalesce(User.display_name, User.user_name)
    stmt = (
        select(GroupMember.member_id, GroupMember.member_type, user_display, Group.display_name)
        .outerjoin(User, User.id == GroupMember.member_id)
        .outerjoin(Group, Group.id == GroupMember.member_id)
        .where(GroupMember.group_id == group_id)
        .order_by(GroupMember.member_id)
    )
    if scope is not None:
        # The member is the User or the Group joined (ids are UUIDs: never both).
        stmt = stmt.where(or_(User.idp == scope, Group.idp == scope))
    found = session.execute(stmt)
    return [(mid, mtype, udisp or gdisp) for mid, mtype, udisp, gdisp in found]


def list_groups(
    session: Session, query: ListQuery, *, scope: str | None, hints: PageHints | None = None
) -> tuple[int, list[Group]]:
    """Return the total and one page of the Groups ``scope`` sees matching a ListQuery."""
    return list_page(session, "Group", query, scope=scope, hints=hints)
