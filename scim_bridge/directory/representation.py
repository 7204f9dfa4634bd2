"""Stored rows -> SCIM resource documents (RFC 7643 §3.1 common attributes and meta)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from scim_bridge.directory.models import Group, User
from scim_bridge.directory.prepared import StoredResource
from scim_bridge.directory.rows import UserRow
from scim_bridge.scim.etags import etag
from scim_bridge.scim.schema import registry


def iso(when: datetime) -> str:
    """Format a timestamp as RFC 3339 UTC with milliseconds."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _schemas(core: str, extensions: Iterable[str], doc: Mapping[str, Any]) -> list[str]:
    return [core, *(urn for urn in extensions if urn in doc)]


def _meta(
    resource_type: str, row: User | UserRow | Group | StoredResource, base_url: str, endpoint: str
) -> dict[str, Any]:
    return {
        "resourceType": resource_type,
        "created": iso(row.created),
        "lastModified": iso(row.last_modified),
        "location": f"{base_url}{endpoint}/{row.id}",
        "version": etag(row.version),
    }


def render_user(
    row: User | UserRow | StoredResource,
    *,
    base_url: str,
    groups: Sequence[tuple[str, str]] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Render a User; ``groups`` are (group id, displayName) of its direct memberships."""
    rt = registry().user
    doc: dict[str, Any] = {"id": row.id, **row.data}
    if extra:
        for urn, values in extra.items():
            doc[urn] = {**doc.get(urn, {}), **values}
    doc["schemas"] = _schemas(rt.core.id, (e.id for e in rt.extensions), doc)
    if groups is not None:
        doc["groups"] = [
            {"value": gid, "display": name, "$ref": f"{base_url}/Groups/{gid}", "type": "direct"}
            for gid, name in groups
        ]
    doc["meta"] = _meta("User", row, base_url, "/Users")
    return doc


def render_group(
    row: Group,
    *,
    base_url: str,
    members: Sequence[tuple[str, str, str | None]] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Render a Group; ``members`` are (id, type, display), or None when not requested."""
    rt = registry().group
    doc: dict[str, Any] = {"id": row.id, **row.data}
    if extra:
        for urn, values in extra.items():
            doc[urn] = {**doc.get(urn, {}), **values}
    doc["schemas"] = _schemas(rt.core.id, (e.id for e in rt.extensions), doc)
    if members is not None:
        doc["members"] = [
            {
                "value": mid,
                "type": mtype,
                "$ref": f"{base_url}/{'Users' if mtype == 'User' else 'Groups'}/{mid}",
                **({"display": display} if display else {}),
            }
            for mid, mtype, display in members
        ]
    doc["meta"] = _meta("Group", row, base_url, "/Groups")
    return doc
