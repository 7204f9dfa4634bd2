"""Two IdPs on one server: a client per token, and the documents the isolation tests send."""

from __future__ import annotations

import urllib.parse
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from scim_client import ScimClient
from sqlalchemy import text

from scim_bridge.directory.db import Database
from scim_bridge.directory.tokens import create_token

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK_URN = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"


def client_for(app: Any, token: str, user_agent: str = "pytest") -> ScimClient:
    """One token's view of the server through the Flask test client."""
    return ScimClient(app.test_client(), token, user_agent)


def token(
    database: Database,
    name: str,
    *,
    idp: str | None = None,
    profile: str = "auto",
    shared: bool = False,
    read_only: bool = False,
) -> str:
    """Create a token and return its plaintext."""
    with database.write() as session:
        _row, plaintext = create_token(
            session,
            name,
            idp=idp,
            profile=profile,
            shared=shared,
            read_only=read_only,
            now=datetime.now(UTC),
        )
    return plaintext


@dataclass
class Idps:
    """IdP A's and IdP B's clients, a shared token (label "migration") and a read-only A."""

    a: ScimClient
    b: ScimClient
    shared: ScimClient
    a_read_only: ScimClient


def make_idps(app: Any, database: Database) -> Idps:
    """Create the four tokens of the isolation tests."""
    return Idps(
        a=client_for(app, token(database, "okta-a", idp="idp-a")),
        b=client_for(app, token(database, "entra-b", idp="idp-b")),
        shared=client_for(app, token(database, "migration", shared=True)),
        a_read_only=client_for(app, token(database, "audit-a", idp="idp-a", read_only=True)),
    )


def q(flt: str) -> str:
    """Quote a filter for a query string."""
    return urllib.parse.quote(flt)


def user(name: str, **extra: Any) -> dict[str, Any]:
    """A User body."""
    return {
        "schemas": [USER_URN],
        "userName": name,
        "name": {"givenName": "Given", "familyName": "Family"},
        "emails": [{"value": name, "type": "work", "primary": True}],
        "active": True,
        **extra,
    }


def group(name: str, members: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """A Group body with members by id."""
    body: dict[str, Any] = {"schemas": [GROUP_URN], "displayName": name, **extra}
    if members is not None:
        body["members"] = [{"value": m} for m in members]
    return body


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    """A PatchOp body."""
    return {"schemas": [PATCH_URN], "Operations": list(operations)}


def created(response: Any) -> str:
    """Assert a 201 and return the new resource's id."""
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def assert_not_found(response: Any) -> None:
    """A SCIM 404 Error (RFC 7644 §3.12)."""
    assert response.status_code == 404, response.get_json()
    body = response.get_json()
    assert body["schemas"] == [ERROR_URN] and body["status"] == "404"


def unknown_id() -> str:
    """An id no resource has."""
    return str(uuid.uuid4())


def snapshot(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the directory tables: a refused request changes none of them."""
    out = {}
    with database.read() as session:
        for table in ("users", "user_values", "groups", "group_members", "outbox"):
            rows = session.execute(text(f"SELECT * FROM {table}")).all()  # noqa: S608 - constant
            out[table] = sorted((tuple(r) for r in rows), key=repr)
    return out


def idp_of(database: Database, table: str, resource_id: str) -> str:
    """The IdP a stored User or Group belongs to."""
    with database.read() as session:
        value = session.execute(
            text(f"SELECT idp FROM {table} WHERE id = :id"),  # noqa: S608 - constant
            {"id": resource_id},
        ).scalar_one()
    return str(value)
