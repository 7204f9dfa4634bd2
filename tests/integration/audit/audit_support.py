"""Reading the audit trail back in tests: every record, its diff parsed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, text

from scim_bridge.directory.db import Database
from scim_bridge.directory.models import AuditRecord
from scim_bridge.directory.tokens import create_token

BULK_URN = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def records(database: Database) -> list[dict[str, Any]]:
    """Return every audit record, oldest first, with ``detail`` parsed."""
    with database.read() as session:
        found = session.scalars(select(AuditRecord).order_by(AuditRecord.id)).all()
        return [
            {
                "id": r.id,
                "actor": r.actor,
                "idp": r.idp,
                "request_id": r.request_id,
                "client": r.client,
                "resource_type": r.resource_type,
                "resource_id": r.resource_id,
                "operation": r.operation,
                "status": r.status,
                "detail": json.loads(r.detail),
                "seq": r.seq,
            }
            for r in found
        ]


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    """Return a PatchOp body (RFC 7644 §3.5.2)."""
    return {"schemas": [PATCH_URN], "Operations": list(operations)}


def new_token(database: Database, name: str = "test-idp", *, read_only: bool = False) -> str:
    """Create a token; return its plaintext."""
    with database.write() as session:
        _row, plaintext = create_token(
            session, name, idp="acme", read_only=read_only, now=datetime.now(UTC)
        )
    return plaintext


class Client:
    """The Flask test client sending SCIM JSON with a bearer token."""

    def __init__(self, app: Any, token: str) -> None:
        self.client = app.test_client()
        self.headers = {"Authorization": f"Bearer {token}"}

    def send(self, method: str, path: str, body: Any = None) -> Any:
        """Send one request to /scim/v2<path>."""
        return self.client.open(
            f"/scim/v2{path}",
            method=method,
            json=body,
            headers={**self.headers, "Content-Type": "application/scim+json"},
        )


def dingtalk_records(database: Database) -> list[dict[str, Any]]:
    """Return the DingTalk-side records, oldest first (``detail`` parsed)."""
    from scim_bridge.sync.dingtalk_audit import DINGTALK

    return [r for r in records(database) if r["idp"] == DINGTALK]


def scim_record(database: Database, operation: str, resource_id: str) -> dict[str, Any]:
    """Return the newest SCIM record of one operation on one resource."""
    found = [
        r
        for r in records(database)
        if r["operation"] == operation and r["resource_id"] == resource_id
    ]
    assert found, f"no {operation} record of {resource_id}"
    return found[-1]


def dump(database: Database, db_url: str) -> str:
    """Return everything the database holds, as text: the SQLite file and its WAL, free
    pages included; PostgreSQL's live rows."""
    if db_url.startswith("sqlite"):
        path = Path(db_url.removeprefix("sqlite:///"))
        files = (path, path.with_name(path.name + "-wal"))
        raw = b"".join(f.read_bytes() for f in files if f.exists())
        return raw.decode("utf-8", "replace")
    with database.read() as session:
        names = session.scalars(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        ).all()
        return "\n".join(
            str(row)
            for name in names
            for row in session.execute(text(f'SELECT * FROM "{name}"'))  # noqa: S608 (pg_tables)
        )
