"""The User service: every change is one transaction that also writes the outbox row."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from scim_bridge.directory import audit, rows
from scim_bridge.directory.models import Group, GroupMember, User
from scim_bridge.directory.outbox import Lane, mark_changed_on
from scim_bridge.directory.prepared import Cursor, Prepared, StoredResource, one
from scim_bridge.directory.queries import PageHints, list_page
from scim_bridge.directory.rows import Context, UserRow
from scim_bridge.directory.user_changes import change_user, current_document, lock_for_change
from scim_bridge.directory.user_rows import (
    COLUMNS,
    INSERT_VALUE,
    apply_password,
    audit_record,
    derive_columns,
    password_sent,
    row_values,
    stored_document,
    value_rows,
)
from scim_bridge.errors import NotFound, Uniqueness
from scim_bridge.scim import patch as scim_patch
from scim_bridge.scim import resources
from scim_bridge.scim.listing import ListQuery
from scim_bridge.scim.schema import registry

# Users are written with prepared statements (see prepared.py), not the ORM's unit of work:
# the User services take a Cursor (Database.transaction on the request hot path, or
# Cursor.of(session) inside a Session's transaction), and a User row is a ``rows.UserRow``
# whose columns are read and written whole, one statement each. A change to an existing
# User is worked out and written by user_changes.py; what a row is made of, by user_rows.py.


def _create_user_statement(dialect: str) -> Any:
    """Insert a User unless its userName is taken: the check and the write in one statement
    (one round trip less per POST on PostgreSQL, issue 14). No row back means taken; a
    conflict skipped this way is no error, so PostgreSQL logs nothing for an IdP's re-create
    and the transaction stays usable."""
    make = pg_insert if dialect == "postgresql" else sqlite_insert
    return (
        make(User)
        .values({c: bindparam(f"v_{c}") for c in COLUMNS})
        .on_conflict_do_nothing(index_elements=[User.user_name_key])
        .returning(User.id)
    )


_CREATE_USER = Prepared(_create_user_statement)
_DELETE_USER = Prepared(delete(User).where(User.id == bindparam("id")))


def create_user(cur: Cursor, body: Mapping[str, Any], ctx: Context) -> UserRow:
    """Create a User from a request body (RFC 7644 §3.3); 409 when userName is taken."""
    rt = registry().user
    doc = resources.normalize(rt, body, compat=ctx.compat)
    resources.require(rt, doc)
    ctx.accept_user(doc)  # SCIM_BRIDGE_REJECT_UNPROJECTABLE: refuse before anything is written
    row = rows.new_row(UserRow, ctx, stored_document(doc))
    derive_columns(row, doc)
    apply_password(row, doc, ctx)
    # Made before the first statement: on SQLite that takes the writer's turn, which every
    # other write waits for while this one holds it (see change_user).
    values = value_rows(row.id, doc)
    record = audit_record(
        ctx, row.id, "POST", 201, None, row.data, password_sent=password_sent(doc)
    )
    try:
        created = _CREATE_USER.rows(cur, **row_values(row))
    except cur.dialect.loaded_dbapi.IntegrityError:
        created = []  # a unique index other than userName's (never seen: ids are UUIDs)
    if not created:
        raise Uniqueness(rows.taken("userName", row.user_name))
    INSERT_VALUE.execute_many(cur, values)
    mark_changed_on(cur, "User", [row.id], actor=ctx.actor, now=ctx.now, lane=Lane.BULK)
    audit.insert_record(cur, record)
    return row


def replace_user(
    cur: Cursor,
    user_id: str,
    body: Mapping[str, Any],
    ctx: Context,
    *,
    if_match: str | None = None,
) -> UserRow:
    """Replace a User (PUT, RFC 7644 §3.5.1): readOnly kept, immutable enforced."""
    rt = registry().user
    incoming = resources.normalize(rt, body, compat=ctx.compat)

    def replaced(row: UserRow) -> dict[str, Any]:
        # replace() carries the write-only password through from the request.
        return resources.replace(rt, current_document(row), incoming)

    return change_user(cur, user_id, ctx, "PUT", replaced, if_match=if_match)


def patch_user(
    cur: Cursor,
    user_id: str,
    body: Mapping[str, Any],
    ctx: Context,
    *,
    if_match: str | None = None,
) -> UserRow:
    """Apply a PATCH request to a User atomically (RFC 7644 §3.5.2)."""
    rt = registry().user
    ops = scim_patch.parse_patch(body, lenient=ctx.compat.lenient_filters)

    def patched(row: UserRow) -> dict[str, Any]:
        return scim_patch.apply_patch(rt, current_document(row), ops, compat=ctx.compat)

    return change_user(cur, user_id, ctx, "PATCH", patched, if_match=if_match)


_GROUPS_WITH_MEMBER = Prepared(
    select(GroupMember.group_id).where(GroupMember.member_id == bindparam("id"))
)
_LEAVE_GROUPS = Prepared(delete(GroupMember).where(GroupMember.member_id == bindparam("id")))
_BUMP_GROUPS = Prepared(
    update(Group)
    .where(Group.id.in_(bindparam("ids", expanding=True)))
    .values(
        version=Group.version + 1, last_modified=bindparam("now"), modified_by=bindparam("actor")
    ),
    expanding="ids",
)


def delete_user(cur: Cursor, user_id: str, ctx: Context, *, if_match: str | None = None) -> None:
    """Delete a User and its memberships (RFC 7644 §3.6); the leaver reaches DingTalk."""
    row = lock_for_change(cur, user_id, ctx, if_match=if_match)
    group_ids = [gid for (gid,) in _GROUPS_WITH_MEMBER.rows(cur, id=user_id)]
    if group_ids:
        # The groups it left have a new version (their members changed).
        _LEAVE_GROUPS.execute(cur, id=user_id)
        _BUMP_GROUPS.execute(cur, ids=group_ids, now=ctx.now, actor=ctx.actor)
    _DELETE_USER.execute(cur, id=user_id)
    # Issue 14: a deletion is a leaver; it goes before any onboarding or repair.
    mark_changed_on(cur, "User", [user_id], actor=ctx.actor, now=ctx.now, lane=Lane.DEPROVISION)
    audit.insert_record(cur, audit_record(ctx, user_id, "DELETE", 204, row.data, None))


# --- reads -----------------------------------------------------------------------------------


#: What a User document is rendered from, by id and by userName (the IdPs' existence check);
#: as one IdP sees it, with ``idp = :idp`` in the same statement.
_USER_COLUMNS = (User.id, User.data, User.version, User.created, User.last_modified)
_USER_BY_ID = rows.Scoped(User, select(*_USER_COLUMNS).where(User.id == bindparam("id")))
_USER_BY_NAME = rows.Scoped(
    User, select(*_USER_COLUMNS).where(User.user_name_key == bindparam("key"))
)
_GROUPS_OF = rows.Scoped(
    Group,
    select(GroupMember.member_id, Group.id, Group.display_name)
    .join(Group, Group.id == GroupMember.group_id)
    .where(GroupMember.member_id.in_(bindparam("ids", expanding=True)))
    .order_by(Group.display_name_key),
    expanding="ids",
)


def read_user(reader: Cursor, user_id: str, *, scope: str | None) -> StoredResource:
    """Return what a User is rendered from, or raise 404 (also when another IdP's)."""
    found = one(_USER_BY_ID.rows(reader, scope, id=user_id))
    if found is None:
        raise NotFound(f"User {user_id} not found")
    return StoredResource(*found)


def find_user_by_name(
    reader: Cursor, user_name: str, *, scope: str | None
) -> StoredResource | None:
    """Return the User whose userName matches case-insensitively (RFC 7643 §4.1.1), if
    ``scope`` sees it: another IdP's user is not found (though its userName is taken)."""
    found = one(_USER_BY_NAME.rows(reader, scope, key=user_name.lower()))
    return None if found is None else StoredResource(*found)


def groups_of(
    reader: Cursor, user_ids: Sequence[str], *, scope: str | None = None
) -> dict[str, list[tuple[str, str]]]:
    """Return each user's direct groups as (group id, displayName), in one query; only the
    groups ``scope`` sees (every group for None: a shared token, the translator)."""
    out: dict[str, list[tuple[str, str]]] = defaultdict(list)
    if not user_ids:
        return out
    for member_id, gid, name in _GROUPS_OF.rows(reader, scope, ids=user_ids):
        out[member_id].append((gid, name))
    return out


def list_users(
    session: Session, query: ListQuery, *, scope: str | None, hints: PageHints | None = None
) -> tuple[int, list[User]]:
    """Return the total and one page of the Users ``scope`` sees matching a ListQuery."""
    return list_page(session, "User", query, scope=scope, hints=hints)
