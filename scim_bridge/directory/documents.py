"""The SCIM documents a response carries: stored rows rendered, projected to the requested
attributes (RFC 7644 §3.4.2.5), with group memberships, members and the DingTalk sync state
looked up only when the response includes them.

The HTTP views call these and serialise the result; nothing here knows Flask.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import String, bindparam, cast, select, union_all
from sqlalchemy.orm import Session

from scim_bridge.directory import groups, users
from scim_bridge.directory.models import Group, GroupMember, User
from scim_bridge.directory.prepared import Cursor, Prepared, StoredResource
from scim_bridge.directory.representation import render_group, render_user
from scim_bridge.directory.rows import UserRow
from scim_bridge.directory.sync_state import state_of, state_select, sync_states
from scim_bridge.scim import resources
from scim_bridge.scim.schema import DINGTALK_GROUP, DINGTALK_USER, ResourceType, registry

Selection = tuple[tuple[str, ...], tuple[str, ...]]


def _user_extras(scoped: bool) -> Prepared:
    """Users' sync states and direct groups in one statement: a plain GET or filter renders
    both, and on PostgreSQL each statement costs a round trip and ~0.1-0.2 ms of the API's CPU
    (issue 14). Rows of the first part carry the state and no group; the second, one group.
    With ``scoped``, only the groups of the IdP named by ``idp``."""
    states = state_select("User")
    # Each part's NULLs carry the other part's column types (PostgreSQL matches them).
    no_state = [cast(None, column.type) for column in list(states.selected_columns)[1:]]
    none = cast(None, String)
    in_groups = (
        select(
            GroupMember.member_id,
            *no_state,
            Group.id,
            Group.display_name,
            Group.display_name_key,
        )
        .join(Group, Group.id == GroupMember.group_id)
        .where(GroupMember.member_id.in_(bindparam("ids", expanding=True)))
    )
    if scoped:
        in_groups = in_groups.where(Group.idp == bindparam("idp"))
    return Prepared(union_all(states.add_columns(none, none, none), in_groups), expanding="ids")


_USER_EXTRAS = {False: _user_extras(scoped=False), True: _user_extras(scoped=True)}


def user_extras(
    reader: Cursor, ids: list[str], *, scope: str | None
) -> tuple[dict[str, list[tuple[str, str]]], dict[str, dict[str, Any]]]:
    """Return each user's direct groups (id, displayName), ordered by name, and sync state."""
    memberships: dict[str, list[tuple[str, str]]] = {}
    states: dict[str, dict[str, Any]] = {}
    if not ids:
        return memberships, states
    params: dict[str, Any] = {"ids": ids} if scope is None else {"ids": ids, "idp": scope}
    keyed: dict[str, list[tuple[str, str, str]]] = {}
    for row in _USER_EXTRAS[scope is not None].rows(reader, **params):
        if row[7] is None:
            states[row[0]] = {DINGTALK_USER: {"sync": state_of("User", *row[1:7])}}
        else:
            keyed.setdefault(row[0], []).append((row[9], row[7], row[8]))
    for user_id, found in keyed.items():
        memberships[user_id] = [(gid, name) for _key, gid, name in sorted(found)]
    return memberships, states


class Documents:
    """Renders Users and Groups for one SCIM base URL's responses; caches what a plain
    request (no ``attributes``, no ``excludedAttributes``) includes, worked out once."""

    def __init__(self) -> None:
        self.reg = registry()
        self._plain_wants: dict[tuple[str, str], bool] = {}

    def wants(self, rt: ResourceType, selection: Selection, name: str) -> bool:
        """Whether the response includes an attribute."""
        attributes, excluded = selection
        if attributes or excluded:
            return resources.wanted(rt, attributes, excluded, name)
        key = (rt.name, name)
        found = self._plain_wants.get(key)
        if found is None:
            found = self._plain_wants[key] = resources.wanted(rt, None, None, name)
        return found

    def users(
        self,
        reader: Cursor,
        rows: Sequence[User | UserRow | StoredResource],
        *,
        base_url: str,
        scope: str | None,
        selection: Selection,
    ) -> list[dict[str, Any]]:
        """Return the documents of users, with their groups and sync state when wanted."""
        rt = self.reg.user
        attributes, excluded = selection
        need_groups = self.wants(rt, selection, "groups")
        ids = [r.id for r in rows]
        if need_groups and self.wants(rt, selection, f"{DINGTALK_USER}:sync"):
            memberships, states = user_extras(reader, ids, scope=scope)
        else:
            memberships = users.groups_of(reader, ids, scope=scope) if need_groups else {}
            states = self.sync_extension(reader, "User", ids, selection)
        return [
            resources.project(
                rt,
                render_user(
                    r,
                    base_url=base_url,
                    groups=memberships.get(r.id, []) if need_groups else None,
                    extra=states.get(r.id),
                ),
                attributes=attributes or None,
                excluded=excluded or None,
            )
            for r in rows
        ]

    def new_user(
        self, row: User | UserRow | StoredResource, *, base_url: str, selection: Selection
    ) -> Any:
        """Return the document of a user just created: in no group, not in DingTalk yet (so
        nothing to look up)."""
        attributes, excluded = selection
        return resources.project(
            self.reg.user,
            render_user(
                row,
                base_url=base_url,
                groups=[],
                extra={DINGTALK_USER: {"sync": {"state": "pending"}}},
            ),
            attributes=attributes or None,
            excluded=excluded or None,
        )

    def groups(
        self,
        session: Session,
        rows: list[Group],
        *,
        base_url: str,
        scope: str | None,
        selection: Selection,
    ) -> list[dict[str, Any]]:
        """Return the documents of groups, with their members and sync state when wanted."""
        rt = self.reg.group
        attributes, excluded = selection
        # Entra always asks excludedAttributes=members: then members are never loaded.
        need_members = self.wants(rt, selection, "members")
        ids = [r.id for r in rows]
        states = self.sync_extension(Cursor.of(session), "Group", ids, selection)
        out = []
        for r in rows:
            members = groups.members_of(session, r.id, scope=scope) if need_members else None
            doc = resources.project(
                rt,
                render_group(r, base_url=base_url, members=members, extra=states.get(r.id)),
                attributes=attributes or None,
                excluded=excluded or None,
            )
            if need_members and "members" not in doc:
                doc["members"] = []  # Entra expects the empty list on a new group
            out.append(doc)
        return out

    def sync_extension(
        self, reader: Cursor, resource_type: str, ids: list[str], selection: Selection
    ) -> dict[str, dict[str, Any]]:
        """Return our DingTalk extension's ``sync`` state per id, when the response has it."""
        rt = self.reg.user if resource_type == "User" else self.reg.group
        urn = DINGTALK_USER if resource_type == "User" else DINGTALK_GROUP
        if not self.wants(rt, selection, f"{urn}:sync"):
            return {}
        states = sync_states(reader, resource_type, ids)
        return {i: {urn: {"sync": state}} for i, state in states.items()}
