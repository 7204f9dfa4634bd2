"""What Users and Groups share as stored rows: the change context, creation, loading,
uniqueness checks and version bumps (RFC 7643 §3.1 common attributes).

Every row belongs to the IdP whose token created it (``idp``). A caller's *scope* is the IdP
it sees (``Principal.scope``; None for a shared token, or the worker): every lookup here and in
the services takes it, so another IdP's resource is answered exactly as a missing one (404),
never as "forbidden", which would tell that it exists (docs/security.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from sqlalchemy import FromClause, Select, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scim_bridge.directory.models import Group, User
from scim_bridge.directory.prepared import Cursor, Prepared
from scim_bridge.directory.tokens import Principal
from scim_bridge.errors import Forbidden, InvalidValue, NotFound, Uniqueness
from scim_bridge.scim import resources
from scim_bridge.scim.etags import require_if_match


@dataclass(slots=True, kw_only=True)
class UserRow:
    """A ``users`` row on the prepared-statement path (users.py): its columns as plain
    attributes, read and written whole, one statement each. An ORM ``User`` built per request
    only to carry them spent about 6% of a PATCH's CPU in attribute instrumentation (issue 14).
    The columns derived from the document (``user_rows.derive_columns``) start empty."""

    __table__: ClassVar[FromClause] = User.__table__

    id: str
    idp: str | None
    data: dict[str, Any]
    version: int
    created: datetime
    last_modified: datetime
    created_by: str | None
    modified_by: str | None
    user_name: str = ""
    user_name_key: str = ""
    external_id: str | None = None
    display_name: str | None = None
    display_name_key: str | None = None
    active: bool = True
    password_hash: str | None = None
    manager_id: str | None = None


Row = TypeVar("Row", UserRow, Group)
Loaded = TypeVar("Loaded", User, Group)

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
    # Refuses (raises a ScimError) a User document DingTalk could never accept; built by the
    # HTTP layer from the mapping rules when SCIM_BRIDGE_REJECT_UNPROJECTABLE is on.
    check_user: Callable[[Mapping[str, Any]], None] | None = None
    # Okta and Entra profiles: member ids naming no resource are skipped, not a 400.
    ignore_unknown_members: bool = False
    # The audit trail (directory/audit.py): the request's id and client address, and whether
    # records are written at all (SCIM_BRIDGE_AUDIT_ENABLED).
    request_id: str = ""
    client: str | None = None
    audit: bool = True
    # "Bulk" when the write is one operation of a Bulk request (RFC 7644 §3.7).
    via: str = ""

    @property
    def actor(self) -> str:
        """Return the audit name of the caller."""
        return self.principal.name

    def accept_user(self, doc: Mapping[str, Any]) -> None:
        """Raise if the user document is one this server is told to refuse (else nothing)."""
        if self.check_user is not None:
            self.check_user(doc)

    @property
    def scope(self) -> str | None:
        """Return the IdP whose resources the caller sees and changes (None: every IdP)."""
        return self.principal.scope

    def check_writable(self) -> None:
        """Refuse a change by a read-only token (RFC 7644 §3.12: 403)."""
        if self.principal.read_only:
            raise Forbidden(READ_ONLY)


#: What a read-only token is told when it tries to change something.
READ_ONLY = (
    "this token is read-only: it may read and search, not change resources; use a token "
    "created without --read-only"
)


class Scoped:
    """A Prepared statement in two forms: for every IdP (scope None) and for one IdP, where
    it also requires ``<model>.idp = :idp``. The predicate is part of the one statement (no
    second query), so the hot paths stay one indexed lookup."""

    def __init__(
        self,
        model: type[User] | type[Group],
        stmt: Select[*tuple[Any, ...]],
        *,
        expanding: str | None = None,
    ) -> None:
        self._every = Prepared(stmt, expanding=expanding)
        self._one = Prepared(stmt.where(model.idp == bindparam("idp")), expanding=expanding)

    def rows(self, cur: Cursor, scope: str | None, **params: Any) -> list[tuple[Any, ...]]:
        """Run the query as ``scope`` sees it; return its rows."""
        if scope is None:
            return self._every.rows(cur, **params)
        return self._one.rows(cur, idp=scope, **params)

    def peek(self, cur: Cursor, scope: str | None, **params: Any) -> list[tuple[Any, ...]]:
        """Run the query as ``scope`` sees it without beginning the transaction (Prepared.peek)."""
        if scope is None:
            return self._every.peek(cur, **params)
        return self._one.peek(cur, idp=scope, **params)


def stored_part(doc: Mapping[str, Any], not_stored: tuple[str, ...]) -> dict[str, Any]:
    """What of a canonical document goes into a row's ``data``: all but ``not_stored``."""
    return {k: v for k, v in doc.items() if k not in not_stored}


def optional_text(value: Any) -> str | None:
    """An optional attribute as its string column: None when unassigned or empty."""
    return None if value in (None, "") else str(value)


def taken(attribute: str, value: str) -> str:
    """Say a unique name is taken without telling anything of the resource that holds it:
    userName and group displayName are unique across IdPs, but another IdP learns nothing
    more than that the name is taken (docs/security.md)."""
    return (
        f"{attribute} {value!r} is already in use in this directory; choose another "
        "(it may belong to another IdP)"
    )


def new_row(model: type[Row], ctx: Context, data: dict[str, Any]) -> Row:
    """Return a new resource row at version 1, created and modified by the caller now; it
    belongs to the caller's IdP (a shared token's own label included)."""
    ctx.check_writable()
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


def load(
    session: Session,
    model: type[Loaded],
    resource_id: str,
    *,
    scope: str | None,
    for_update: bool,
) -> Loaded:
    """Return a resource row by id as ``scope`` sees it (locked for update if asked), or 404."""
    stmt = select(model).where(model.id == resource_id)
    if scope is not None:
        stmt = stmt.where(model.idp == scope)
    if for_update:
        stmt = stmt.with_for_update()
    row = session.scalar(stmt)
    if row is None:
        raise NotFound(f"{model.__name__} {resource_id} not found")
    return row


def load_for_change(
    session: Session, model: type[Loaded], resource_id: str, ctx: Context, *, if_match: str | None
) -> Loaded:
    """Lock a resource row the caller may change; 404 if absent (or another IdP's), 403 for a
    read-only token, 412 if If-Match names another version."""
    ctx.check_writable()
    row = load(session, model, resource_id, scope=ctx.scope, for_update=True)
    require_if_match(if_match, row.version)
    return row


def bump(row: UserRow | Group, ctx: Context) -> None:
    """Record a change: a new version (ETag), the time and who made it."""
    row.version += 1
    row.last_modified = ctx.now
    row.modified_by = ctx.actor


def check_fits(row: UserRow | Group) -> None:
    """Refuse a value longer than its column: 400, where PostgreSQL would fail the write (500)."""
    columns = type(row).__table__.c
    for key, attr in _INDEXED.items():
        value = getattr(row, key, None)
        limit = getattr(columns[key].type, "length", None) if key in columns else None
        if isinstance(value, str) and limit and len(value) > limit:
            raise InvalidValue(f"{attr} is longer than {limit} characters")


def _clash_query(model: type[User] | type[Group]) -> Prepared:
    """Is the name key taken by a resource other than ``exclude`` (an id no resource has when
    the row is new)? Across every IdP: one directory, one DingTalk organisation."""
    name_key = model.user_name_key if model is User else model.display_name_key
    other = model.id != bindparam("exclude")
    return Prepared(select(model.id).where(name_key == bindparam("key"), other).limit(1))


_CLASHES = {UserRow: _clash_query(User), Group: _clash_query(Group)}


def check_unique(
    cur: Cursor, row: UserRow | Group, *, name_key: str, taken: str, exclude_id: str | None
) -> None:
    """Raise 409 uniqueness when the name key (userName, group displayName) is taken.

    externalId is not checked: RFC 7643 §3.1 scopes it to the provisioning domain without
    making it unique, and IdPs re-provisioning a tenant send repeats.
    For a Session, pass ``Cursor.of(session)``: it reads without flushing (flushing the
    changed row would hit the unique index first: IntegrityError, a 500, not this 409)."""
    if _CLASHES[type(row)].rows(cur, key=name_key, exclude=exclude_id or ""):
        raise Uniqueness(taken)


def flush(session: Session, what: str, value: str) -> None:
    """Flush; a unique index hit by a concurrent request is a 409, not a 500."""
    try:
        session.flush()
    except IntegrityError:
        raise Uniqueness(taken(what, value)) from None
