"""Passwords IdPs send: dropped by default; under ``password_policy: hash``, an scrypt hash at
OWASP's cost, computed before the write transaction opens (issue 9, finding 5)."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from scim_bridge.app import create_app
from scim_bridge.directory import passwords, users
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import User
from scim_bridge.directory.rows import Context
from scim_bridge.directory.tokens import Principal, create_token
from scim_bridge.settings import Settings

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK_URN = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def stored_hash(database: Database, uid: str) -> str | None:
    with database.read() as session:
        return session.scalar(select(User.password_hash).where(User.id == uid))


def client(database: Database, db_url: str, **settings: Any) -> Any:
    """A Flask test client and a token, on an app with these settings."""
    app = create_app(Settings(database_url=db_url, **settings), db=database)
    with database.write() as session:
        _row, token = create_token(session, "idp", now=NOW)
    test_client = app.test_client()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}

    def send(method: str, path: str, body: Any) -> Any:
        return test_client.open(f"/scim/v2{path}", method=method, json=body, headers=headers)

    return send


def test_passwords_are_dropped_by_default(database: Database, db_url: str) -> None:
    assert Settings().password_policy == "drop"
    send = client(database, db_url)
    body = {"schemas": [USER_URN], "userName": "ann", "password": "s3cret!"}
    created = send("POST", "/Users", body)
    assert created.status_code == 201
    uid = created.json["id"]
    patch = {"schemas": [PATCH_URN], "Operations": [{"op": "replace", "value": {"password": "x"}}]}
    assert send("PATCH", f"/Users/{uid}", patch).status_code in (200, 204)
    assert send("PUT", f"/Users/{uid}", body).status_code == 200
    op = {
        "method": "POST",
        "path": "/Users",
        "bulkId": "b",
        "data": {"userName": "bo", "password": "p"},
    }
    result = send("POST", "/Bulk", {"schemas": [BULK_URN], "Operations": [op]}).json
    bulk_uid = result["Operations"][0]["location"].rsplit("/", 1)[1]
    assert stored_hash(database, uid) is None
    assert stored_hash(database, bulk_uid) is None


def test_the_hash_policy_stores_scrypt_at_owasp_cost(database: Database, db_url: str) -> None:
    send = client(database, db_url, password_policy="hash")
    created = send("POST", "/Users", {"schemas": [USER_URN], "userName": "ann", "password": "pw1"})
    uid = created.json["id"]
    first = stored_hash(database, uid)
    assert first is not None and first.startswith("$scrypt$ln=17,r=8,p=1$")
    assert passwords.verify_password("pw1", first)
    assert not passwords.verify_password("pw2", first)
    # Okta's password sync: PATCH replace with a value object (scim-idp-notes).
    patch = {
        "schemas": [PATCH_URN],
        "Operations": [{"op": "replace", "value": {"password": "pw2"}}],
    }
    assert send("PATCH", f"/Users/{uid}", patch).status_code in (200, 204)
    second = stored_hash(database, uid)
    assert second is not None and passwords.verify_password("pw2", second)
    # A PATCH with a path, inside a Bulk request.
    by_path = {
        "schemas": [PATCH_URN],
        "Operations": [{"op": "replace", "path": "password", "value": "pw3"}],
    }
    op = {"method": "PATCH", "path": f"/Users/{uid}", "data": by_path}
    assert send("POST", "/Bulk", {"schemas": [BULK_URN], "Operations": [op]}).status_code == 200
    third = stored_hash(database, uid)
    assert third is not None and passwords.verify_password("pw3", third)


def test_the_stored_form_describes_itself() -> None:
    stored = passwords.hash_password("correct horse")
    _, scheme, params, salt, digest = stored.split("$")
    assert scheme == "scrypt" and params == "ln=17,r=8,p=1"
    raw_salt = base64.b64decode(salt + "=" * (-len(salt) % 4))
    assert len(raw_salt) == 16
    expected = hashlib.scrypt(
        b"correct horse", salt=raw_salt, n=2**17, r=8, p=1, maxmem=2**28, dklen=32
    )
    assert base64.b64decode(digest + "=" * (-len(digest) % 4)) == expected


def test_hashes_stored_before_issue_9_still_verify() -> None:
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(b"old one", salt=salt, n=2**14, r=8, p=1, dklen=32)
    b64 = base64.b64encode
    stored = f"scrypt$16384$8$1${b64(salt).decode()}${b64(digest).decode()}"
    assert passwords.verify_password("old one", stored)
    assert not passwords.verify_password("old two", stored)
    assert not passwords.verify_password("x", "garbage")


def ctx_with(policy: str) -> Context:
    return Context(principal=Principal(1, "idp", "idp", "auto"), now=NOW, password_policy=policy)


def fake_hash(password: str) -> str:
    """A stand-in for scrypt (a second each): shows which plaintexts were hashed, and when."""
    return f"$prepared${password}"


@pytest.mark.parametrize(
    "body",
    [
        {"userName": "ann", "password": "pw"},
        {"userName": "ann", f"{USER_URN}:password": "pw"},
        {"schemas": [PATCH_URN], "Operations": [{"op": "replace", "value": {"PASSWORD": "pw"}}]},
        {"schemas": [PATCH_URN], "Operations": [{"op": "add", "path": "password", "value": "pw"}]},
        {"Operations": [{"op": "replace", "path": f"{USER_URN}:password", "value": ["pw"]}]},
    ],
)
def test_prepare_finds_the_password_in_every_form_a_request_sends(body: dict[str, Any]) -> None:
    prepared = passwords.prepare(body, ctx_with("hash"), hasher=fake_hash)
    assert prepared.password_hashes == {"pw": "$prepared$pw"}


def test_prepare_hashes_with_scrypt_by_default() -> None:
    prepared = passwords.prepare({"userName": "ann", "password": "pw"}, ctx_with("hash"))
    assert passwords.verify_password("pw", prepared.password_hashes["pw"])


def test_the_write_stores_the_prepared_hash_without_hashing_again(database: Database) -> None:
    create = {"userName": "ann", "password": "pw1"}
    with database.transaction() as cur:
        row = users.create_user(
            cur, create, passwords.prepare(create, ctx_with("hash"), hasher=fake_hash)
        )
    assert stored_hash(database, row.id) == "$prepared$pw1"
    patch = {
        "schemas": [PATCH_URN],
        "Operations": [{"op": "replace", "path": "password", "value": "pw2"}],
    }
    ctx = passwords.prepare(patch, ctx_with("hash"), hasher=fake_hash)
    with database.transaction() as cur:
        users.patch_user(cur, row.id, patch, ctx)
    assert stored_hash(database, row.id) == "$prepared$pw2"


def test_prepare_does_nothing_when_passwords_are_dropped() -> None:
    ctx = ctx_with("drop")
    assert passwords.prepare({"userName": "a", "password": "pw"}, ctx, hasher=fake_hash) is ctx


def test_prepare_hashes_at_most_the_last_two_passwords_of_a_request() -> None:
    """A body cannot make the server run scrypt once per password-shaped value."""
    ops = [{"op": "replace", "path": "password", "value": f"pw{i}"} for i in range(50)]
    body = {"schemas": [PATCH_URN], "Operations": ops}
    prepared = passwords.prepare(body, ctx_with("hash"), hasher=fake_hash)
    assert list(prepared.password_hashes) == ["pw48", "pw49"]
