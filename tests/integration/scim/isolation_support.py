"""Two IdPs on one server: a client per token, and the documents the isolation tests send."""

from __future__ import annotations

import urllib.parse
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from scim_bridge.directory.db import Database
from scim_bridge.directory.tokens import create_token

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH_URN = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
BULK_URN = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"


class Client:
    """One token's view of the server through the Flask test client."""

    def __init__(self, app: Any, token: str, user_agent: str = "pytest") -> None:
        self.client = app.test_client()
        self.headers = {"Authorization": f"Bearer {token}", "User-Agent": user_agent}

    def send(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        """Send ``method /scim/v2<path>`` with a JSON body if given."""
        h = {**self.headers, **headers}
        kwargs: dict[str, Any] = {"headers": h}
        if body is not None:
            kwargs["json"] = body
            h.setdefault("Content-Type", "application/scim+json")
        return self.client.open(f"/scim/v2{path}", method=method, **kwargs)

    def get(self, path: str, **headers: str) -> Any:
        """GET."""
        return self.send("GET", path, **headers)

    def post(self, path: str, body: Any, **headers: str) -> Any:
        """POST a JSON body."""
        return self.send("POST", path, body, **headers)

    def put(self, path: str, body: Any, **headers: str) -> Any:
        """PUT a JSON body."""
        return self.send("PUT", path, body, **headers)

    def patch(self, path: str, body: Any, **headers: str) -> Any:
        """PATCH a JSON body."""
        return self.send("PATCH", path, body, **headers)

    def delete(self, path: str, **headers: str) -> Any:
        """DELETE."""
        return self.send("DELETE", path, **headers)

    def search(self, path: str, flt: str | None = None, **params: Any) -> Any:
        """POST a SearchRequest to ``path`` (``/Users/.search``, ``/.search``)."""
        body: dict[str, Any] = {"schemas": [SEARCH_URN], **params}
        if flt is not None:
            body["filter"] = flt
        return self.post(path, body)

    def ids(self, path: str) -> set[str]:
        """The ids a GET or a ``.search`` path lists (count large enough for a test)."""
        if path.endswith(".search"):
            response = self.search(path, count=1000)
        else:
            sep = "&" if "?" in path else "?"
            response = self.get(f"{path}{sep}count=1000")
        assert response.status_code == 200, response.get_json()
        return {r["id"] for r in response.get_json()["Resources"]}


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

    a: Client
    b: Client
    shared: Client
    a_read_only: Client


def make_idps(app: Any, database: Database) -> Idps:
    """Create the four tokens of the isolation tests."""
    return Idps(
        a=Client(app, token(database, "okta-a", idp="idp-a")),
        b=Client(app, token(database, "entra-b", idp="idp-b")),
        shared=Client(app, token(database, "migration", shared=True)),
        a_read_only=Client(app, token(database, "audit-a", idp="idp-a", read_only=True)),
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
