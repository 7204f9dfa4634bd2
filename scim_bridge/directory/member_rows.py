"""A group's membership rows: written in chunks, and found or removed by primary key whatever
PostgreSQL's statistics say about the group's size (issue 14: a member PATCH costs what it
changes, however large the group).

Rows are seen through the caller's scope (``queries.visible_member``); the Group service
(groups.py) decides what changes, this module reads and writes the rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ARRAY, String, bindparam, cast, delete, func, select, true
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from scim_bridge.directory.models import GroupMember
from scim_bridge.directory.queries import visible_member

#: Membership changes are written in chunks so a huge PUT never builds one giant statement.
CHUNK = 500


def insert_members(session: Session, group_id: str, types: Mapping[str, str]) -> None:
    """Add members ({id: type}); one already there stays as it is."""
    values = [{"group_id": group_id, "member_id": i, "member_type": t} for i, t in types.items()]
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    for start in range(0, len(values), CHUNK):
        stmt = insert(GroupMember).on_conflict_do_nothing()
        session.execute(stmt, values[start : start + CHUNK])


def existing_members(
    session: Session, group_id: str, ids: Sequence[str], *, scope: str | None
) -> dict[str, str]:
    """Return {id: type} of those of ``ids`` that are members ``scope`` sees."""
    lookup = probe_by_key if session.get_bind().dialect.name == "postgresql" else _probe_by_in
    found: dict[str, str] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = list(ids[start : start + CHUNK])
        found.update(session.execute(lookup(group_id, chunk, scope)).all())
    return found


def _probe_by_in(group_id: str, chunk: list[str], scope: str | None) -> Any:
    # SQLite probes the primary key (group_id, member_id) once per listed id.
    return select(GroupMember.member_id, GroupMember.member_type).where(
        GroupMember.group_id == group_id,
        GroupMember.member_id.in_(chunk),
        visible_member(scope),
    )


def probe_by_key(group_id: str, chunk: list[str], scope: str | None) -> Any:
    """PostgreSQL: one primary-key probe per id, whatever the statistics say.

    ``member_id IN (…)`` beside ``group_id = …`` was planned from the group alone while the
    statistics still described it as small (a bulk load grows a group faster than autovacuum
    analyzes it, and the prepared statement's generic plan keeps the estimate): every member
    of the group was read and checked, 45 ms for 100 ids at 2,900 members against 2 ms. The
    ids drive the lookup instead, each in a LATERAL subquery that OFFSET 0 keeps the planner
    from flattening (an optimisation fence PostgreSQL documents), so it can only probe the
    key."""
    wanted = func.unnest(cast(chunk, ARRAY(String))).table_valued("id").render_derived("wanted")
    probe = (
        select(GroupMember.member_id, GroupMember.member_type)
        .where(
            GroupMember.group_id == group_id,
            GroupMember.member_id == wanted.c.id,
            visible_member(scope),
        )
        .offset(0)
        .lateral("probe")
    )
    return select(probe.c.member_id, probe.c.member_type).select_from(wanted.join(probe, true()))


#: PostgreSQL's removal, one member per execution (see delete_members).
REMOVE_BY_KEY = delete(GroupMember).where(
    GroupMember.group_id == bindparam("gid"), GroupMember.member_id == bindparam("mid")
)


def delete_members(session: Session, group_id: str, ids: Sequence[str]) -> None:
    """Remove the members ``ids`` (the caller has checked they are ones it may see)."""
    if session.get_bind().dialect.name == "postgresql":
        # As in probe_by_key: ``member_id IN (…)`` was planned from the group alone while
        # its statistics lagged, and read every member to remove a few. One primary-key
        # delete per id cannot be planned that way; psycopg pipelines them (one round trip).
        keyed = [{"gid": group_id, "mid": member_id} for member_id in ids]
        if keyed:
            session.connection().execute(REMOVE_BY_KEY, keyed)
        return
    # SQLite probes the primary key once per listed id.
    for start in range(0, len(ids), CHUNK):
        chunk = list(ids[start : start + CHUNK])
        session.execute(
            delete(GroupMember).where(
                GroupMember.group_id == group_id, GroupMember.member_id.in_(chunk)
            )
        )


def all_members(session: Session, group_id: str, *, scope: str | None) -> dict[str, str]:
    """Return {id: type} of every member ``scope`` sees."""
    return dict(
        session.execute(
            select(GroupMember.member_id, GroupMember.member_type).where(
                GroupMember.group_id == group_id, visible_member(scope)
            )
        ).all()
    )
