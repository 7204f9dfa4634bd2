"""A User's row and what is written beside it, worked out from its document without the
database (a writer can make them before it takes SQLite's writer's turn): the indexed columns,
the value table's rows, the password hash, the audit record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, delete, insert

from scim_bridge.directory import audit, rows
from scim_bridge.directory.models import User, UserValue
from scim_bridge.directory.passwords import hash_password
from scim_bridge.directory.prepared import Cursor, Prepared
from scim_bridge.directory.queries import VALUE_TABLE_ATTRS
from scim_bridge.directory.rows import Context, UserRow
from scim_bridge.scim.schema import ENTERPRISE_USER

#: What never goes into ``User.data``: server-managed or write-only attributes.
NOT_STORED = ("id", "meta", "schemas", "groups", "password")


def stored_document(doc: Mapping[str, Any]) -> dict[str, Any]:
    """What of a canonical document goes into ``User.data``."""
    return rows.stored_part(doc, NOT_STORED)


def derive_columns(row: UserRow, doc: Mapping[str, Any]) -> None:
    """Derive the indexed columns from the canonical document."""
    row.user_name = str(doc["userName"])
    row.user_name_key = row.user_name.lower()
    row.external_id = rows.optional_text(doc.get("externalId"))
    row.display_name = rows.optional_text(doc.get("displayName"))
    row.display_name_key = row.display_name.lower() if row.display_name else None
    # RFC 7643 §4.1.1 leaves an absent "active" undefined; an account that exists is active.
    row.active = doc.get("active") is not False
    manager = (doc.get(ENTERPRISE_USER) or {}).get("manager") or {}
    value = manager.get("value") if isinstance(manager, Mapping) else None
    row.manager_id = str(value)[:256] if value not in (None, "") else None
    rows.check_fits(row)


def value_rows(user_id: str, doc: Mapping[str, Any]) -> list[dict[str, Any]]:
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
INSERT_VALUE = Prepared(
    insert(UserValue).values({name: bindparam(name) for name in (*_VALUE_COLUMNS, "element")})
)
DELETE_VALUES = Prepared(delete(UserValue).where(UserValue.user_id == bindparam("user_id")))


def audit_record(
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


def password_sent(doc: Mapping[str, Any]) -> bool:
    """Whether the request sets a password (write-only: the audit trail says so, not what)."""
    return isinstance(doc.get("password"), str) and bool(doc.get("password"))


def check_unique(cur: Cursor, row: UserRow, *, exclude_id: str | None) -> None:
    """409 if another User holds the row's userName (case-insensitively)."""
    rows.check_unique(
        cur,
        row,
        name_key=row.user_name_key,
        taken=rows.taken("userName", row.user_name),
        exclude_id=exclude_id,
    )


def apply_password(row: UserRow, doc: Mapping[str, Any], ctx: Context) -> None:
    """Set the row's password hash from the document's password, by the password policy."""
    password = doc.get("password")
    if not isinstance(password, str) or not password:
        return
    if ctx.password_policy != "hash":
        row.password_hash = None
        return
    # Hashed by prepare() before the transaction; hashing here is the slow path, for callers
    # that did not prepare (or a form prepare did not recognise).
    row.password_hash = ctx.password_hashes.get(password) or hash_password(password)


#: A User row's columns, in the order a whole-row statement writes them.
COLUMNS = tuple(User.__table__.c.keys())


def row_values(row: UserRow) -> dict[str, Any]:
    """The parameters of a whole-row INSERT (users._CREATE_USER); a change writes only the
    columns it changed (user_changes._update_user_at)."""
    return {f"v_{c}": getattr(row, c) for c in COLUMNS}
