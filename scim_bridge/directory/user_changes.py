"""A change to an existing User (PUT, PATCH): worked out from the row it changes, then
written only if the row is still at the version it was worked out from."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select, update

from scim_bridge.directory import audit, rows
from scim_bridge.directory.models import User
from scim_bridge.directory.outbox import Lane, mark_changed_on
from scim_bridge.directory.prepared import Cursor, Prepared, one
from scim_bridge.directory.queries import VALUE_TABLE_ATTRS
from scim_bridge.directory.rows import Context, UserRow
from scim_bridge.directory.user_rows import (
    COLUMNS,
    DELETE_VALUES,
    INSERT_VALUE,
    apply_password,
    audit_record,
    check_unique,
    derive_columns,
    password_sent,
    stored_document,
    value_rows,
)
from scim_bridge.errors import NotFound, Uniqueness
from scim_bridge.scim import resources
from scim_bridge.scim.etags import require_if_match
from scim_bridge.scim.schema import registry

_ROW_FOR_CHANGE = rows.Scoped(
    User, select(*User.__table__.c).where(User.id == bindparam("id")).with_for_update()
)


@functools.lru_cache(maxsize=64)
def _update_user_at(columns: tuple[str, ...]) -> Prepared:
    """Write ``columns`` of a changed User row, only if it is still at the version the change
    was made from. Only the columns that changed: an index whose columns are SET is rewritten
    even when their values are not (SQLite: a PATCH active=false setting every column took 80
    µs of CPU to update and commit, its five changed columns 30). A handful of column sets
    ever occur (PATCH active=false, a rename, a manager), hence the small cache."""
    return Prepared(
        update(User)
        .where(User.id == bindparam("row_id"), User.version == bindparam("read_version"))
        .values({c: bindparam(f"v_{c}") for c in columns})
    )


def lock_for_change(cur: Cursor, user_id: str, ctx: Context, *, if_match: str | None) -> UserRow:
    """Lock a User row the caller may change; 404 if absent (or another IdP's), 403 for a
    read-only token, 412 if If-Match names another version."""
    ctx.check_writable()
    return _row_for_change(one(_ROW_FOR_CHANGE.rows(cur, ctx.scope, id=user_id)), user_id, if_match)


def _row_for_change(found: tuple[Any, ...] | None, user_id: str, if_match: str | None) -> UserRow:
    """The row read for a change; 404 if there was none, 412 if If-Match names another version."""
    if found is None:
        raise NotFound(f"User {user_id} not found")
    row = UserRow(**dict(zip(COLUMNS, found, strict=True)))
    require_if_match(if_match, row.version)
    return row


def current_document(row: UserRow) -> dict[str, Any]:
    """The document a change starts from: the stored one with its id."""
    return {"id": row.id, **row.data}


def _lane(before: Mapping[str, Any], after: Mapping[str, Any]) -> Lane:
    """The outbox lane of a change: ``active`` turned false is a leaver (issue 14)."""
    # RFC 7643 §4.1.1: active is absent for most users; absent means not deactivated.
    if after.get("active") is False and before.get("active") is not False:
        return Lane.DEPROVISION
    return Lane.UPDATE


def change_user(
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
    row = lock_for_change(cur, user_id, ctx, if_match=if_match)
    planned = _plan_change(row, change(row), ctx, operation)
    if planned.renamed:
        check_unique(cur, planned.row, exclude_id=row.id)
    if not _write_planned(cur, planned, ctx):
        raise RuntimeError(f"User {user_id} changed while locked")  # the lock makes this moot
    return planned.row


@dataclass
class _Planned:
    """A User change worked out from the row it changes: the values its statements write."""

    row: UserRow  # as it will be written (version bumped), or as read if nothing changed
    read_version: int
    columns: tuple[str, ...]  # the columns whose values changed; () when nothing did
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
    stored = stored_document(doc)
    sent = password_sent(doc)
    before = row.data
    record = audit_record(ctx, row.id, operation, 200, before, stored, password_sent=sent)
    if stored == before and not sent:
        # Nothing changed: no new version, nothing to project; the request is still audited.
        return _Planned(row, row.version, (), False, None, Lane.UPDATE, record)
    new = dataclasses.replace(row, data=stored)
    derive_columns(new, doc)
    apply_password(new, doc, ctx)
    rows.bump(new, ctx)
    # PATCH active=false, the commonest write, leaves emails and phone numbers as they were.
    changed_values = any(before.get(a) != stored.get(a) for a in VALUE_TABLE_ATTRS)
    return _Planned(
        row=new,
        read_version=row.version,
        columns=tuple(c for c in COLUMNS if getattr(new, c) != getattr(row, c)),
        # Only a renamed user can clash (PATCH active=false is the common write).
        renamed=new.user_name_key != row.user_name_key,
        values=value_rows(new.id, doc) if changed_values else None,
        lane=_lane(before, stored),
        record=record,
    )


def _write_planned(cur: Cursor, planned: _Planned, ctx: Context) -> bool:
    """Write a planned change; False, having written nothing, if the row is no longer at the
    version it was planned from (or is gone). A unique index hit by a concurrent request (a
    rename to a userName just taken) is a 409."""
    row = planned.row
    if planned.columns:  # a change bumps the version, so a changed row has columns
        try:
            written = _update_user_at(planned.columns).execute(
                cur,
                row_id=row.id,
                read_version=planned.read_version,
                **{f"v_{c}": getattr(row, c) for c in planned.columns},
            )
        except cur.dialect.loaded_dbapi.IntegrityError:
            raise Uniqueness(rows.taken("userName", row.user_name)) from None
        if written != 1:
            return False
        if planned.values is not None:
            DELETE_VALUES.execute(cur, user_id=row.id)
            INSERT_VALUE.execute_many(cur, planned.values)
        mark_changed_on(cur, "User", [row.id], actor=ctx.actor, now=ctx.now, lane=planned.lane)
    audit.insert_record(cur, planned.record)
    return True
