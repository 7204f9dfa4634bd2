"""What Users and Groups share as stored rows: the change context, creation, loading,
uniqueness checks and version bumps (RFC 7643 §3.1 common attributes)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scim_bridge.directory.models import Group, User
from scim_bridge.directory.prepared import Cursor, Prepared
from scim_bridge.directory.tokens import Principal
from scim_bridge.errors import InvalidValue, NotFound, Uniqueness
from scim_bridge.scim import resources
from scim_bridge.scim.etags import require_if_match

Row = TypeVar("Row", User, Group)

#: Indexed columns filled from client values, and the attribute each comes from.
_INDEXED = {
    "user_name": "userName",
    "user_name_key": "userName",
    "external_id": "externalId",
    "display_name": "displayName",
    "display_name_key": "displayName",
}


@dataclass(frozen=True)
class Context:
    """Who changes the directory, when, and under which compatibility switches."""

    principal: Principal
    now: datetime
    compat: resources.Compat = field(default_factory=resources.Compat)
    password_policy: str = "drop"
    # Password hashes by plaintext, computed before the transaction (users.prepare).
    password_hashes: Mapping[str, str] = field(default_factory=dict)
    # Entra sends partial member lists with "replace"; its profile treats them as additions.
    additive_member_replace: bool = False

    @property
    def actor(self) -> str:
        """Return the audit name of the caller."""
        return self.principal.name


def new_row(model: type[Row], ctx: Context, data: dict[str, Any]) -> Row:
    """Return a new resource row at version 1, created and modified by the caller now."""
    return model(
        id=str(uuid.uuid4()),
        idp=ctx.principal.idp,
        data=data,
        version=1,
        created=ctx.now,
        last_modified=ctx.now,
        created_by=ctx.actor,
        modified_by=ctx.actor,
    )


def load(session: Session, model: type[Row], resource_id: str, *, for_update: bool) -> Row:
    """Return a resource row by id (locked for update if asked), or raise 404."""
    stmt = select(model).where(model.id == resource_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = session.scalar(stmt)
    if row is None:
        raise NotFound(f"{model.__name__} {resource_id} not found")
    return row


def load_for_change(
    session: Session, model: type[Row], resource_id: str, *, if_match: str | None
) -> Row:
    """Lock a resource row for a change; 404 if absent, 412 if If-Match names another version."""
    row = load(session, model, resource_id, for_update=True)
    require_if_match(if_match, row.version)
    return row


def bump(row: User | Group, ctx: Context) -> None:
    """Record a change: a new version (ETag), the time and who made it."""
    row.version += 1
    row.last_modified = ctx.now
    row.modified_by = ctx.actor


def check_fits(row: User | Group) -> None:
    """Refuse a value longer than its column: 400, where PostgreSQL would fail the write (500)."""
    columns = type(row).__table__.c
    for key, attr in _INDEXED.items():
        value = getattr(row, key, None)
        limit = getattr(columns[key].type, "length", None) if key in columns else None
        if isinstance(value, str) and limit and len(value) > limit:
            raise InvalidValue(f"{attr} is longer than {limit} characters")


def _clash_query(model: type[User] | type[Group]) -> Prepared:
    """Is the name key taken by a resource other than ``exclude`` (an id no resource has when
    the row is new)?"""
    name_key = model.user_name_key if model is User else model.display_name_key
    other = model.id != bindparam("exclude")
    return Prepared(select(model.id).where(name_key == bindparam("key"), other).limit(1))


_CLASHES = {User: _clash_query(User), Group: _clash_query(Group)}


def check_unique(
    cur: Cursor, row: User | Group, *, name_key: str, taken: str, exclude_id: str | None
) -> None:
    """Raise 409 uniqueness when the name key (userName, group displayName) is taken.

    externalId is not checked: RFC 7643 §3.1 scopes it to the provisioning domain without
    making it unique, and IdPs re-provisioning a tenant send repeats.
    For a Session, pass ``Cursor.of(session)``: it reads without flushing (flushing the
    changed row would hit the unique index first: IntegrityError, a 500, not this 409)."""
    if _CLASHES[type(row)].rows(cur, key=name_key, exclude=exclude_id or ""):
        raise Uniqueness(taken)


def flush(session: Session, what: str) -> None:
    """Flush; a unique index hit by a concurrent request is a 409, not a 500."""
    try:
        session.flush()
    except IntegrityError:
        raise Uniqueness(f"{what} is already taken") from None
