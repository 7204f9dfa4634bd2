"""The mapping engine's view of the directory, read from the database (one session).

It lives in directory/ (not sync/) so read models below sync (monitor/explain.py) project a
person exactly as the translator does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scim_bridge.directory.models import Group, GroupMember, User
from scim_bridge.directory.prepared import Cursor
from scim_bridge.directory.representation import render_group, render_user
from scim_bridge.directory.users import groups_of


class DatabaseDirectory:
    """A mapping DirectoryView over a session; each resource is read once per translation."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._users: dict[str, Mapping[str, Any] | None] = {}
        self._groups: dict[str, Mapping[str, Any] | None] = {}

    def user(self, user_id: str) -> Mapping[str, Any] | None:
        """Return a SCIM user (with its groups) by id, or None."""
        if user_id not in self._users:
            row = self.session.get(User, user_id)
            if row is None:
                self._users[user_id] = None
            else:
                memberships = groups_of(Cursor.of(self.session), [user_id]).get(user_id, [])
                self._users[user_id] = render_user(row, base_url="", groups=memberships)
        return self._users[user_id]

    def group(self, group_id: str) -> Mapping[str, Any] | None:
        """Return a SCIM group by id (without its member list), or None."""
        if group_id not in self._groups:
            row = self.session.get(Group, group_id)
            self._groups[group_id] = None if row is None else render_group(row, base_url="")
        return self._groups[group_id]

    def group_by_name(self, display_name: str) -> Mapping[str, Any] | None:
        """Return the group with this displayName (case-insensitive), or None."""
        gid = self.session.scalar(
            select(Group.id).where(Group.display_name_key == display_name.lower())
        )
        return None if gid is None else self.group(gid)

    def groups_of(self, user_id: str) -> Iterable[str]:
        """Return the ids of the groups that list this user as a direct member."""
        return list(
            self.session.scalars(
                select(GroupMember.group_id).where(GroupMember.member_id == user_id)
            )
        )

    def parents_of(self, group_id: str) -> Iterable[str]:
        """Return the ids of the groups that list this group as a member."""
        return self.groups_of(group_id)

    def same_idp(self, user_id: str, other_id: str) -> bool:
        """Say whether two users belong to the same IdP (the ``idp`` column of each)."""
        # session.get: both rows are usually in the session's identity map already (no query).
        mine, other = self.session.get(User, user_id), self.session.get(User, other_id)
        return mine is not None and other is not None and mine.idp == other.idp
