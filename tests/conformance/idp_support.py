"""Helpers for the IdP conformance suites: clients that replay requests byte for byte.

``IdpClient.send`` puts the path (with its query string exactly as written: Okta's Runscope
suite sends ``filter=userName eq "..."`` unencoded) under /scim/v2 and sends a body either as
the raw text given (bodies copied verbatim from scim-idp-notes.md) or as compact JSON.
Only the headers a test names, plus the IdP's defaults, are sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event

from scim_bridge.directory import groups, users
from scim_bridge.directory.db import Database
from scim_bridge.directory.rows import Context
from scim_bridge.directory.tokens import Principal, create_token

SCIM_JSON = "application/scim+json"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

OKTA_UA = "Okta SCIM Client 1.0.0"
RUNSCOPE_UA = "OKTA SCIM Integration"


class IdpClient:
    """One IdP's view of the server: a bearer token and the headers the IdP always sends."""

    def __init__(self, client: Any, token: str, headers: Mapping[str, str]) -> None:
        self.client = client
        self.token = token
        self.headers = {"Authorization": f"Bearer {token}", **headers}

    def send(
        self,
        method: str,
        path: str,
        body: str | Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send ``method /scim/v2<path>``; a str body goes out as is, a mapping as JSON."""
        h = {**self.headers, **(headers or {})}
        kwargs: dict[str, Any] = {"headers": h}
        if body is not None:
            raw = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
            kwargs["data"] = raw.encode("utf-8")
            h.setdefault("Content-Type", SCIM_JSON)
        return self.client.open(f"/scim/v2{path}", method=method, **kwargs)

    def get(self, path: str, **headers: str) -> Any:
        """GET."""
        return self.send("GET", path, headers=headers)

    def post(self, path: str, body: str | Mapping[str, Any], **headers: str) -> Any:
        """POST."""
        return self.send("POST", path, body, headers)

    def put(self, path: str, body: str | Mapping[str, Any], **headers: str) -> Any:
        """PUT."""
        return self.send("PUT", path, body, headers)

    def patch(self, path: str, body: str | Mapping[str, Any], **headers: str) -> Any:
        """PATCH."""
        return self.send("PATCH", path, body, headers)

    def delete(self, path: str, **headers: str) -> Any:
        """DELETE."""
        return self.send("DELETE", path, headers=headers)


def make_token(database: Database, name: str, profile: str) -> str:
    """Create a token with a compatibility profile; return its plaintext."""
    with database.write() as session:
        _row, plaintext = create_token(session, name, profile=profile, now=datetime.now(UTC))
    return plaintext


def client_for(
    app: Any, database: Database, name: str, profile: str, headers: Mapping[str, str]
) -> IdpClient:
    """Create a token with this profile and a client sending these default headers."""
    return IdpClient(app.test_client(), make_token(database, name, profile), headers)


# --- assertions --------------------------------------------------------------------------------


def assert_scim_json(response: Any) -> None:
    """The response is application/scim+json (RFC 7644 §3.1, scim-idp-notes §1.5, §2.28)."""
    assert response.mimetype == SCIM_JSON, response.headers.get("Content-Type")


def assert_error(response: Any, status: int, scim_type: str | None = None) -> dict[str, Any]:
    """The response is an RFC 7644 §3.12 Error: status as a string, scimType when given."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert_scim_json(response)
    body = response.get_json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    assert isinstance(body["status"], str)
    assert isinstance(body.get("detail"), str) and body["detail"]
    if scim_type is not None:
        assert body.get("scimType") == scim_type, body
    return dict(body)


def assert_list_response(response: Any, total: int) -> dict[str, Any]:
    """A 200 ListResponse whose counts are JSON integers (Okta: "not as strings")."""
    assert response.status_code == 200, response.get_data(as_text=True)
    assert_scim_json(response)
    body = response.get_json()
    assert body["schemas"] == [LIST_RESPONSE]
    for key in ("totalResults", "startIndex", "itemsPerPage"):
        assert type(body[key]) is int, (key, body[key])
    assert body["totalResults"] == total, body
    assert isinstance(body["Resources"], list)
    assert body["itemsPerPage"] == len(body["Resources"])
    return dict(body)


# --- seeding through the service layer (fast, one transaction) -------------------------------


def seed_context(now: datetime | None = None, idp: str = "seed") -> Context:
    """A service Context for seeding the resources of one IdP (only its tokens see them)."""
    principal = Principal(token_id=0, name="seed", idp=idp, profile="strict")
    return Context(principal=principal, now=now or datetime.now(UTC))


def seed_users(database: Database, n: int, prefix: str = "seed", idp: str = "seed") -> list[str]:
    """Create ``n`` users in one transaction, a few sharing a creation time; return their ids."""
    base = datetime.now(UTC) - timedelta(hours=1)
    ids = []
    with database.transaction() as cur:
        for i in range(n):
            # Distinct and equal timestamps both occur in real imports; paging must cope.
            ctx = seed_context(base + timedelta(milliseconds=i // 3), idp)
            row = users.create_user(
                cur,
                {
                    "userName": f"{prefix}.{i:04d}@example.com",
                    "name": {"givenName": f"Seed{i}", "familyName": "User"},
                    "emails": [{"value": f"{prefix}.{i:04d}@example.com", "primary": True}],
                    "active": True,
                },
                ctx,
            )
            ids.append(row.id)
    return ids


def seed_groups(
    database: Database, n: int, prefix: str = "Seed group", idp: str = "seed"
) -> list[str]:
    """Create ``n`` empty groups in one transaction; return their ids."""
    base = datetime.now(UTC) - timedelta(hours=1)
    ids = []
    with database.write() as session:
        for i in range(n):
            ctx = seed_context(base + timedelta(microseconds=7 * (i // 2)), idp)
            ids.append(groups.create_group(session, {"displayName": f"{prefix} {i:04d}"}, ctx).id)
    return ids


@contextmanager
def captured_sql(database: Database) -> Iterator[list[str]]:
    """Record every SQL statement the database runs inside the block."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(database.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(database.engine, "before_cursor_execute", record)
