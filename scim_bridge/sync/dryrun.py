"""Inputs of the dry-run plan and the quality report: the directory and DingTalk as plain data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from scim_bridge.dingtalk.client import DingTalkClient
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import Group, GroupMember, Link, User
from scim_bridge.directory.prepared import Cursor
from scim_bridge.directory.representation import render_group, render_user
from scim_bridge.directory.users import groups_of
from scim_bridge.sync.plan import CurrentState

Progress = Callable[[int, int], None]


def load_directory(
    db: Database, *, progress: Progress | None = None, chunk: int = 2000
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Read every user and group as the SCIM API renders them, in chunks."""
    users: list[dict[str, Any]] = []
    with db.read() as session:
        total = int(session.scalar(select(func.count()).select_from(User)) or 0)
        after = ""
        while True:
            rows = list(
                session.scalars(select(User).where(User.id > after).order_by(User.id).limit(chunk))
            )
            if not rows:
                break
            after = rows[-1].id
            memberships = groups_of(Cursor.of(session), [r.id for r in rows])
            users.extend(
                render_user(r, base_url="", groups=memberships.get(r.id, [])) for r in rows
            )
            if progress is not None:
                progress(len(users), total)
        # People carry their groups already; groups need only their nested groups (for the
        # "members" nesting), not 100,000 member entries rendered again.
        nested: dict[str, list[tuple[str, str, str | None]]] = {}
        for gid, mid in session.execute(
            select(GroupMember.group_id, GroupMember.member_id).where(
                GroupMember.member_type == "Group"
            )
        ):
            nested.setdefault(gid, []).append((mid, "Group", None))
        groups = [
            render_group(g, base_url="", members=nested.get(g.id, []))
            for g in session.scalars(select(Group).order_by(Group.id))
        ]
    return users, groups


def _links(db: Database, kind: str) -> dict[str, Link]:
    with db.read() as session:
        return {
            lk.key: lk
            for lk in session.scalars(select(Link).where(Link.kind == kind, Link.state == "synced"))
        }


def current_from_dingtalk(
    db: Database, client: DingTalkClient, *, progress: Progress | None = None
) -> CurrentState:
    """What DingTalk holds now (walked live) and what the bridge has linked."""
    departments = {
        int(d["dept_id"]): {
            "name": d.get("name"),
            "parent_id": d.get("parent_id"),
            "source_identifier": d.get("source_identifier"),
        }
        for d in client.iter_departments()
    }
    users: dict[str, dict[str, Any]] = {}
    for user in client.iter_all_users():
        users[str(user["userid"])] = dict(user)
        if progress is not None:
            progress(len(users), 0)
    return CurrentState(
        users=users,
        departments=departments,
        dept_links={k: int(str(v.dingtalk_id)) for k, v in _links(db, "department").items()},
        user_links={k: str(v.dingtalk_id) for k, v in _links(db, "user").items()},
        role_links=_role_links(db),
        role_names=_role_names(db),
    )


def _role_links(db: Database) -> dict[str, int]:
    return {k: int(str(v.dingtalk_id)) for k, v in _links(db, "role").items()}


def _role_names(db: Database) -> dict[str, str]:
    # The name the bridge last gave each role: a group renamed since renames its role.
    return {k: str((v.snapshot or {}).get("name") or "") for k, v in _links(db, "role").items()}


def current_from_links(db: Database) -> CurrentState:
    """What the bridge last applied, from its own links (no DingTalk call)."""
    dept_links = _links(db, "department")
    user_links = _links(db, "user")
    return CurrentState(
        users={
            str(v.dingtalk_id): {
                k: x for k, x in (v.snapshot or {}).items() if not k.startswith("_")
            }
            for v in user_links.values()
        },
        departments={
            int(str(v.dingtalk_id)): {
                k: x for k, x in (v.snapshot or {}).items() if not k.startswith("_")
            }
            for v in dept_links.values()
        },
        dept_links={k: int(str(v.dingtalk_id)) for k, v in dept_links.items()},
        user_links={k: str(v.dingtalk_id) for k, v in user_links.items()},
        role_links=_role_links(db),
        role_names=_role_names(db),
        # The role ids of ours each person was given, as the translator records them.
        user_roles={
            k: tuple(str(r) for r in (v.snapshot or {}).get("_roles") or [])
            for k, v in user_links.items()
        },
    )
