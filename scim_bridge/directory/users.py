"""The User service: every change is one transaction that also writes the outbox row."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from scim_bridge.directory import audit, rows
from scim_bridge.directory.models import Group, GroupMember, User, UserValue
from scim_bridge.directory.outbox import Lane, mark_changed_on
from scim_bridge.directory.passwords import hash_password
from scim_bridge.directory.prepared import Cursor, Prepared, StoredResource, one
from scim_bridge.directory.queries import VALUE_TABLE_ATTRS, PageHints, list_page
from scim_bridge.directory.rows import Context, UserRow
from scim_bridge.errors import NotFound, Uniqueness
from scim_bridge.scim import patch as scim_patch
from scim_bridge.scim import resources
from scim_bridge.scim.etags import require_if_match
from scim_bridge.scim.listing import ListQuery
from scim_bridge.scim.schema import ENTERPRISE_USER, registry

#: What never goes into ``User.data``: server-managed or write-only attributes.
NOT_STORED = ("id", "meta", "schemas", "groups", "password")


# --- writes ----------------------------------------------------------------------------------


def _stored_document(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in NOT_STORED}


def _index(row: UserRow, doc: Mapping[str, Any]) -> None:
    """Derive the indexed columns from the canonical document."""
    row.user_name = str(doc["userName"])
    row.user_name_key = row.user_name.lower()
    ext = doc.get("externalId")
    row.external_id = None if ext in (None, "") else str(ext)
    display = doc.get("displayName")
    row.display_name = None if display in (None, "") else str(display)
    row.display_name_key = row.display_name.lower() if row.display_name else None
    # RFC 7643 §4.1.1 leaves an absent "active" undefined; an account that exists is active.
    row.active = doc.get("active") is not False
    manager = (doc.get(ENTERPRISE_USER) or {}).get("manager") or {}
    value = manager.get("value") if isinstance(manager, Mapping) else None
    row.manager_id = str(value)[:256] if value not in (None, "") else None
    rows.check_fits(row)


def _value_rows(user_id: str, doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for attr in VALUE_TABLE_ATTRS:
        for position, element in enumerate(doc.get(attr) or ()):
            if not isinstance(element, Mapping):
                continue
            value = element.get("value")
            text = None if value is None else str(value)
            kind = element.get("type")
            out.append(
                {
                    "user_id": user_id,
                    "attr": attr,
                    "position": position,
                    "value": text,
                    "value_key": text.lower()[:512] if text is not None else None,
                    "type_key": str(kind).lower()[:64] if kind is not None else None,
                    "primary": element.get("primary") is True,
                    "element": dict(element),
                }
            )
    return out


_VALUE_COLUMNS = ("user_id", "attr", "position", "value", "value_key", "type_key", "primary")
_INSERT_VALUE = Prepared(
    insert(UserValue).values({name: bindparam(name) for name in (*_VALUE_COLUMNS, "element")})
)
_DELETE_VALUES = Prepared(delete(UserValue).where(UserValue.user_id == bindparam("user_id")))


def _audit_record(
    ctx: Context,
    row_id: str,
    operation: str,
    status: int,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    *,
    password_sent: bool = False,
) -> dict[str, Any] | None:
    """The audit record of a User write (None when the trail is off), built without the
    database: a writer may build it before it takes the writer's turn."""
    if not ctx.audit:
        return None  # the trail is off: its diff is not worth computing either
    changes = audit.diff(before, after)
    if password_sent:
        # Write-only (RFC 7643 §4.1.1): the trail says it was set, never what to.
        changes["password"] = [None, audit.REDACTED]
    return audit.record_values(
        ctx,
        resource_type="User",
        resource_id=row_id,
        operation=operation,
        status=status,
        detail={"changes": changes},
    )


def _password_sent(doc: Mapping[str, Any]) -> bool:
    return isinstance(doc.get("password"), str) and bool(doc.get("password"))


def _check_unique(cur: Cursor, row: UserRow, *, exclude_id: str | None) -> None:
    rows.check_unique(
        cur,
        row,
        name_key=row.user_name_key,
        taken=rows.taken("userName", row.user_name),
        exclude_id=exclude_id,
    )


def _apply_password(row: UserRow, doc: Mapping[str, Any], ctx: Context) -> None:
    password = doc.get("password")
    if not isinstance(password, str) or not password:
        return
    if ctx.password_policy != "hash":
        row.password_hash = None
        return
    # Hashed by prepare() before the transaction; hashing here is the slow path, for callers
    # that did not prepare (or a form prepare did not recognise).
    row.password_hash = ctx.password_hashes.get(password) or hash_password(password)


# Users are written with prepared statements (see prepared.py), not the ORM's unit of work:
# the User services take a Cursor (Database.transaction on the request hot path, or
# Cursor.of(session) inside a Session's transaction), and a User row is a ``rows.UserRow``
# whose columns are read and written whole, one statement each.
_COLUMNS = tuple(User.__table__.c.keys())
_ROW_FOR_CHANGE = rows.Scoped(
    User, select(*User.__table__.c).where(User.id == bindparam("id")).with_for_update()
)


def _create_user_statement(dialect: str) -> Any:
    """Insert a User unless its userName is taken: the check and the write in one statement
    (one round trip less per POST on PostgreSQL, issue 14). No row back means taken; a
    conflict skipped this way is no error, so PostgreSQL logs nothing for an IdP's re-create
    and the transaction stays usable."""
    make = pg_insert if dialect == "postgresql" else sqlite_insert
    return (
        make(User)
        .values({c: bindparam(f"v_{c}") for c in _COLUMNS})
        .on_conflict_do_nothing(index_elements=[User.user_name_key])
        .returning(User.id)
    )


_CREATE_USER = Prepared(_create_user_statement)
#: A changed User row, written only if it is still at the version the change was made from.
_UPDATE_USER_AT = Prepared(
    update(User)
    .where(User.id == bindparam("row_id"), User.version == bindparam("read_version"))
    .values({c: bindparam(f"v_{c}") for c in _COLUMNS if c != "id"})
)
_DELETE_USER = Prepared(delete(User).where(User.id == bindparam("id")))


def _lock_for_change(cur: Cursor, user_id: str, ctx: Context, *, if_match: str | None) -> UserRow:
    """Lock a User row the caller may change; 404 if absent (or another IdP's), 403 for a
    read-only token, 412 if If-Match names another version."""
    ctx.check_writable()
    return _row_for_change(one(_ROW_FOR_CHANGE.rows(cur, ctx.scope, id=user_id)), user_id, if_match)


def _row_for_change(found: tuple[Any, ...] | None, user_id: str, if_match: str | None) -> UserRow:
    """The row read for a change; 404 if there was none, 412 if If-Match names another version."""
    if found is None:
        raise NotFound(f"User {user_id} not found")
    row = UserRow(**dict(zip(_COLUMNS, found, strict=True)))
    require_if_match(if_match, row.version)
    return row


def _row_values(row: UserRow) -> dict[str, Any]:
    """The parameters a whole-row statement (_CREATE_USER, _UPDATE_USER_AT) takes."""
    return {f"v_{c}": getattr(row, c) for c in _COLUMNS}


def create_user(cur: Cursor, body: Mapping[str, Any], ctx: Context) -> UserRow:
    """Create a User from a request body (RFC 7644 §3.3); 409 when userName is taken."""
    rt = registry().user
    doc = resources.normalize(rt, body, compat=ctx.compat)
    resources.require(rt, doc)
    ctx.accept_user(doc)  # SCIM_BRIDGE_REJECT_UNPROJECTABLE: refuse before anything is written
    row = rows.new_row(UserRow, ctx, _stored_document(doc))
    _index(row, doc)
    _apply_password(row, doc, ctx)
    # Made before the first statement: on SQLite that takes the writer's turn, which every
    # other write waits for while this one holds it (see _change).
    values = _value_rows(row.id, doc)
    record = _audit_record(
        ctx, row.id, "POST", 201, None, row.data, password_sent=_password_sent(doc)
    )
    try:
        created = _CREATE_USER.rows(cur, **_row_values(row))
    except cur.dialect.loaded_dbapi.IntegrityError:
        created = []  # a unique index other than userName's (never seen: ids are UUIDs)
    if not created:
        raise Uniqueness(rows.taken("userName", row.user_name))
    _INSERT_VALUE.execute_many(cur, values)
    mark_changed_on(cur, "User", [row.id], actor=ctx.actor, now=ctx.now, lane=Lane.BULK)
    audit.insert_record(cur, record)
    return row


def _current_document(row: UserRow) -> dict[str, Any]:
    return {"id": row.id, **row.data}


def _lane(before: Mapping[str, Any], after: Mapping[str, Any]) -> Lane:
    """The outbox lane of a change: ``active`` turned false is a leaver (issue 14)."""
    # RFC 7643 §4.1.1: active is absent for most users; absent means not deactivated.
    if after.get("active") is False and before.get("active") is not False:
        return Lane.DEPROVISION
    return Lane.UPDATE


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
        return resources.replace(rt, _current_document(row), incoming)

    return _change(cur, user_id, ctx, "PUT", replaced, if_match=if_match)


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
        return scim_patch.apply_patch(rt, _current_document(row), ops, compat=ctx.compat)

    return _change(cur, user_id, ctx, "PATCH", patched, if_match=if_match)


def _change(
    cur: Cursor,
    user_id: str,
    ctx: Context,
    operation: str,
    change: Callable[[UserRow], dict[str, Any]],
    *,
    if_match: str | None,
) -> UserRow:
    """Change a User with ``change`` (its new document from its row), atomically.

    On SQLite every write waits for the one writer's turn, so the change is worked out before
    it: the row is read in a snapshot of its own, the new document, its indexed columns and
    its audit record are made, and the turn is taken for the statements alone, the first of
    which writes the row only if it is still at the version read. If another request changed
    it in between, the change is made again from the row read under the turn (as is a rename:
    whether the new userName is free is known only there). A refusal (404, 412, 400) from the
    snapshot is the answer the request would have had just before that other change.
    PostgreSQL locks the row (FOR UPDATE) first, and waits for no turn."""
    ctx.check_writable()
    if cur.unstarted:
        found = one(_ROW_FOR_CHANGE.peek(cur, ctx.scope, id=user_id))
        row = _row_for_change(found, user_id, if_match)
        planned = _plan_change(row, change(row), ctx, operation)
        if not planned.renamed and _write_planned(cur, planned, ctx):
            return planned.row
    row = _lock_for_change(cur, user_id, ctx, if_match=if_match)
    planned = _plan_change(row, change(row), ctx, operation)
    if planned.renamed:
        _check_unique(cur, planned.row, exclude_id=row.id)
    if not _write_planned(cur, planned, ctx):
        raise RuntimeError(f"User {user_id} changed while locked")  # the lock makes this moot
    return planned.row


@dataclass
class _Planned:
    """A User change worked out from the row it changes: the values its statements write."""

    row: UserRow  # as it will be written (version bumped), or as read if nothing changed
    read_version: int
    changed: bool
    renamed: bool
    values: list[dict[str, Any]] | None  # the value table's new rows; None: unchanged
    lane: Lane
    record: dict[str, Any] | None


def _plan_change(row: UserRow, doc: Mapping[str, Any], ctx: Context, operation: str) -> _Planned:
    """Work out the change of ``row`` to ``doc`` without the database; 400 if ``doc`` is not
    a User this server takes."""
    rt = registry().user
    resources.require(rt, doc)
    ctx.accept_user(doc)  # SCIM_BRIDGE_REJECT_UNPROJECTABLE: refuse before anything is written
    stored = _stored_document(doc)
    password_sent = _password_sent(doc)
    before = row.data
    record = _audit_record(ctx, row.id, operation, 200, before, stored, password_sent=password_sent)
    if stored == before and not password_sent:
        # Nothing changed: no new version, nothing to project; the request is still audited.
        return _Planned(row, row.version, False, False, None, Lane.UPDATE, record)
    new = dataclasses.replace(row, data=stored)
    _index(new, doc)
    _apply_password(new, doc, ctx)
    rows.bump(new, ctx)
    # PATCH active=false, the commonest write, leaves emails and phone numbers as they were.
    changed_values = any(before.get(a) != stored.get(a) for a in VALUE_TABLE_ATTRS)
    return _Planned(
        row=new,
        read_version=row.version,
        changed=True,
        # Only a renamed user can clash (PATCH active=false is the common write).
        renamed=new.user_name_key != row.user_name_key,
        values=_value_rows(new.id, doc) if changed_values else None,
        lane=_lane(before, stored),
        record=record,
    )


def _write_planned(cur: Cursor, planned: _Planned, ctx: Context) -> bool:
    """Write a planned change; False, having written nothing, if the row is no longer at the
    version it was planned from (or is gone). A unique index hit by a concurrent request (a
    rename to a userName just taken) is a 409."""
    row = planned.row
    if planned.changed:
        try:
            written = _UPDATE_USER_AT.execute(
                cur, row_id=row.id, read_version=planned.read_version, **_row_values(row)
            )
        except cur.dialect.loaded_dbapi.IntegrityError:
            raise Uniqueness(rows.taken("userName", row.user_name)) from None
        if written != 1:
            return False
        if planned.values is not None:
            _DELETE_VALUES.execute(cur, user_id=row.id)
            _INSERT_VALUE.execute_many(cur, planned.values)
        mark_changed_on(cur, "User", [row.id], actor=ctx.actor, now=ctx.now, lane=planned.lane)
    audit.insert_record(cur, planned.record)
    return True


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
    row = _lock_for_change(cur, user_id, ctx, if_match=if_match)
    group_ids = [gid for (gid,) in _GROUPS_WITH_MEMBER.rows(cur, id=user_id)]
    if group_ids:
        # The groups it left have a new version (their members changed).
        _LEAVE_GROUPS.execute(cur, id=user_id)
        _BUMP_GROUPS.execute(cur, ids=group_ids, now=ctx.now, actor=ctx.actor)
    _DELETE_USER.execute(cur, id=user_id)
    # Issue 14: a deletion is a leaver; it goes before any onboarding or repair.
    mark_changed_on(cur, "User", [user_id], actor=ctx.actor, now=ctx.now, lane=Lane.DEPROVISION)
    audit.insert_record(cur, _audit_record(ctx, user_id, "DELETE", 204, row.data, None))


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
