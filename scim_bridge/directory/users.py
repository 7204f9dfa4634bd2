"""The User service: every change is one transaction that also writes the outbox row."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from scim_bridge.directory import rows
from scim_bridge.directory.models import Group, GroupMember, User, UserValue
from scim_bridge.directory.outbox import mark_changed
from scim_bridge.directory.queries import VALUE_TABLE_ATTRS, PageHints, list_page
from scim_bridge.directory.rows import Context
from scim_bridge.scim import patch as scim_patch
from scim_bridge.scim import resources
from scim_bridge.scim.listing import ListQuery
from scim_bridge.scim.schema import ENTERPRISE_USER, registry

#: What never goes into ``User.data``: server-managed or write-only attributes.
NOT_STORED = ("id", "meta", "schemas", "groups", "password")


# --- passwords -------------------------------------------------------------------------------

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def hash_password(password: str) -> str:
    """Return a salted scrypt hash of a password (never the password itself)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Check a password against a stored scrypt hash in constant time."""
    try:
        _, n, r, p, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


# --- writes ----------------------------------------------------------------------------------


def _stored_document(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in NOT_STORED}


def _index(row: User, doc: Mapping[str, Any]) -> None:
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


def _write_values(session: Session, user_id: str, doc: Mapping[str, Any], *, fresh: bool) -> None:
    if not fresh:
        session.execute(delete(UserValue).where(UserValue.user_id == user_id))
    values = _value_rows(user_id, doc)
    if values:
        session.execute(insert(UserValue), values)


def _check_unique(session: Session, row: User, *, exclude_id: str | None) -> None:
    rows.check_unique(
        session,
        row,
        name_key=User.user_name_key == row.user_name_key,
        taken=f"userName {row.user_name!r} is already taken by another user",
        exclude_id=exclude_id,
    )


def _apply_password(row: User, doc: Mapping[str, Any], ctx: Context) -> None:
    password = doc.get("password")
    if isinstance(password, str) and password:
        row.password_hash = hash_password(password) if ctx.password_policy == "hash" else None


def create_user(session: Session, body: Mapping[str, Any], ctx: Context) -> User:
    """Create a User from a request body (RFC 7644 §3.3); 409 when userName is taken."""
    rt = registry().user
    doc = resources.normalize(rt, body, compat=ctx.compat)
    resources.require(rt, doc)
    row = rows.new_row(User, ctx, _stored_document(doc))
    _index(row, doc)
    _apply_password(row, doc, ctx)
    _check_unique(session, row, exclude_id=None)
    session.add(row)
    rows.flush(session, "userName or externalId")
    _write_values(session, row.id, doc, fresh=True)
    mark_changed(session, "User", [row.id], actor=ctx.actor, now=ctx.now)
    return row


def get_user(session: Session, user_id: str, *, for_update: bool = False) -> User:
    """Return a User by id, or raise 404."""
    return rows.load(session, User, user_id, for_update=for_update)


def _current_document(row: User) -> dict[str, Any]:
    return {"id": row.id, **row.data}


def _store_change(session: Session, row: User, doc: Mapping[str, Any], ctx: Context) -> User:
    rt = registry().user
    resources.require(rt, doc)
    stored = _stored_document(doc)
    password_sent = isinstance(doc.get("password"), str) and bool(doc.get("password"))
    if stored == row.data and not password_sent:
        return row  # nothing changed: no new version, nothing to project
    row.data = stored
    keys = (row.user_name_key, row.external_id)
    _index(row, doc)
    _apply_password(row, doc, ctx)
    if (row.user_name_key, row.external_id) != keys:
        # Only a renamed user can clash (PATCH active=false is the common write).
        _check_unique(session, row, exclude_id=row.id)
    rows.bump(row, ctx)
    rows.flush(session, "userName or externalId")
    _write_values(session, row.id, doc, fresh=False)
    mark_changed(session, "User", [row.id], actor=ctx.actor, now=ctx.now)
    return row


def replace_user(
    session: Session,
    user_id: str,
    body: Mapping[str, Any],
    ctx: Context,
    *,
    if_match: str | None = None,
) -> User:
    """Replace a User (PUT, RFC 7644 §3.5.1): readOnly kept, immutable enforced."""
    row = rows.load_for_change(session, User, user_id, if_match=if_match)
    rt = registry().user
    incoming = resources.normalize(rt, body, compat=ctx.compat)
    # replace() carries the write-only password through from the request.
    doc = resources.replace(rt, _current_document(row), incoming)
    return _store_change(session, row, doc, ctx)


def patch_user(
    session: Session,
    user_id: str,
    body: Mapping[str, Any],
    ctx: Context,
    *,
    if_match: str | None = None,
) -> User:
    """Apply a PATCH request to a User atomically (RFC 7644 §3.5.2)."""
    rt = registry().user
    ops = scim_patch.parse_patch(body, lenient=ctx.compat.lenient_filters)
    row = rows.load_for_change(session, User, user_id, if_match=if_match)
    doc = scim_patch.apply_patch(rt, _current_document(row), ops, compat=ctx.compat)
    return _store_change(session, row, doc, ctx)


def delete_user(
    session: Session, user_id: str, ctx: Context, *, if_match: str | None = None
) -> None:
    """Delete a User and its memberships (RFC 7644 §3.6); the leaver reaches DingTalk."""
    row = rows.load_for_change(session, User, user_id, if_match=if_match)
    group_ids = list(
        session.scalars(select(GroupMember.group_id).where(GroupMember.member_id == user_id))
    )
    if group_ids:
        session.execute(delete(GroupMember).where(GroupMember.member_id == user_id))
        session.execute(
            update(Group)
            .where(Group.id.in_(group_ids))
            .values(version=Group.version + 1, last_modified=ctx.now, modified_by=ctx.actor)
        )
    session.delete(row)
    mark_changed(session, "User", [user_id], actor=ctx.actor, now=ctx.now)


# --- reads -----------------------------------------------------------------------------------


def groups_of(session: Session, user_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """Return each user's direct groups as (group id, displayName), in one query."""
    out: dict[str, list[tuple[str, str]]] = defaultdict(list)
    if not user_ids:
        return out
    found = session.execute(
        select(GroupMember.member_id, Group.id, Group.display_name)
        .join(Group, Group.id == GroupMember.group_id)
        .where(GroupMember.member_id.in_(list(user_ids)))
        .order_by(Group.display_name_key)
    )
    for member_id, gid, name in found:
        out[member_id].append((gid, name))
    return out


def list_users(
    session: Session, query: ListQuery, *, hints: PageHints | None = None
) -> tuple[int, list[User]]:
    """Return the total and one page of Users matching a ListQuery, filtered in SQL."""
    return list_page(session, "User", query, hints=hints)
