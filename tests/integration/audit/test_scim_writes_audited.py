"""Every SCIM write appends one audit record in its own transaction, with the redacted diff
of what it changed; a refused write (4xx) is recorded too, without a diff."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from audit_support import BULK_URN, Client, new_token, patch, records
from sqlalchemy import text

from scim_bridge.app import create_app
from scim_bridge.directory.db import Database, sqlite_path
from scim_bridge.settings import Settings

PASSWORD = "Tr0ub4dor&3-never-stored"


def only(database: Database) -> dict[str, Any]:
    found = records(database)
    assert len(found) == 1, found
    return found[0]


def test_post_user_records_who_where_and_every_attribute_set(scim: Any, database: Database) -> None:
    response = scim.post(
        "/Users",
        {"userName": "ada@example.com", "displayName": "Ada", "active": True},
        **{"X-Request-ID": "req-post-1"},
    )
    assert response.status_code == 201
    record = only(database)
    assert record["actor"] == "test-idp"
    assert record["idp"] == "test-idp"
    assert record["request_id"] == "req-post-1"
    assert record["client"] == "127.0.0.1"
    assert (record["resource_type"], record["operation"], record["status"]) == ("User", "POST", 201)
    assert record["resource_id"] == response.json["id"]
    assert record["detail"]["changes"] == {
        "active": [None, True],
        "displayName": [None, "Ada"],
        "userName": [None, "ada@example.com"],
    }


def test_a_request_without_x_request_id_gets_a_generated_one(scim: Any, database: Database) -> None:
    scim.post("/Users", {"userName": "a@example.com"})
    scim.post("/Users", {"userName": "b@example.com"})
    first, second = (r["request_id"] for r in records(database))
    assert len(first) == 32 and first != second


def test_put_and_patch_user_record_before_and_after_of_changed_fields_only(
    scim: Any, database: Database
) -> None:
    uid = scim.post("/Users", {"userName": "ada@example.com", "title": "Engineer"}).json["id"]
    put = scim.put("/Users/" + uid, {"userName": "ada@example.com", "title": "Manager"})
    assert put.status_code == 200
    body = patch({"op": "replace", "path": "active", "value": False})
    assert scim.patch("/Users/" + uid, body).status_code in (200, 204)
    _, put_record, patch_record = records(database)
    assert (put_record["operation"], put_record["status"]) == ("PUT", 200)
    assert put_record["detail"]["changes"] == {"title": ["Engineer", "Manager"]}
    assert patch_record["operation"] == "PATCH"
    assert patch_record["detail"]["changes"] == {"active": [None, False]}


def test_enterprise_extension_is_diffed_attribute_by_attribute(
    scim: Any, database: Database
) -> None:
    urn = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    uid = scim.post(
        "/Users", {"userName": "ada@example.com", urn: {"department": "R&D", "division": "X"}}
    ).json["id"]
    body = patch({"op": "replace", "path": f"{urn}:department", "value": "Sales"})
    scim.patch("/Users/" + uid, body)
    assert records(database)[-1]["detail"]["changes"] == {f"{urn}:department": ["R&D", "Sales"]}


def test_delete_user_records_what_was_removed(scim: Any, database: Database) -> None:
    uid = scim.post("/Users", {"userName": "ada@example.com"}).json["id"]
    assert scim.delete("/Users/" + uid).status_code == 204
    record = records(database)[-1]
    assert (record["operation"], record["status"], record["resource_id"]) == ("DELETE", 204, uid)
    assert record["detail"]["changes"] == {"userName": ["ada@example.com", None]}


def test_group_writes_record_document_and_membership_changes(scim: Any, database: Database) -> None:
    a = scim.post("/Users", {"userName": "a@example.com"}).json["id"]
    b = scim.post("/Users", {"userName": "b@example.com"}).json["id"]
    gid = scim.post("/Groups", {"displayName": "Ops", "members": [{"value": a}]}).json["id"]
    scim.put("/Groups/" + gid, {"displayName": "Ops", "members": [{"value": b}]})
    scim.patch("/Groups/" + gid, patch({"op": "replace", "path": "displayName", "value": "SRE"}))
    assert scim.delete("/Groups/" + gid).status_code == 204
    post, put, patched, deleted = records(database)[2:]
    assert post["detail"]["changes"] == {
        "displayName": [None, "Ops"],
        "members": {"added": [a]},
    }
    assert put["operation"] == "PUT"
    assert put["detail"]["changes"] == {"members": {"added": [b], "removed": [a]}}
    assert patched["detail"]["changes"] == {"displayName": ["Ops", "SRE"]}
    assert deleted["operation"] == "DELETE"
    assert deleted["detail"]["changes"] == {
        "displayName": ["SRE", None],
        "members": {"removed": [b]},
    }


def test_each_bulk_operation_is_one_record_and_a_failed_one_has_no_diff(
    scim: Any, database: Database
) -> None:
    operations = [
        {"method": "POST", "path": "/Users", "bulkId": "u1", "data": {"userName": "u1"}},
        {"method": "POST", "path": "/Users", "bulkId": "u2", "data": {"userName": "u1"}},
        {
            "method": "PATCH",
            "path": "/Users/bulkId:u1",
            "data": patch({"op": "add", "path": "title", "value": "CTO"}),
        },
    ]
    response = scim.post("/Bulk", {"schemas": [BULK_URN], "Operations": operations})
    assert [o["status"] for o in response.json["Operations"]] == ["201", "409", "200"]
    created, refused, patched = records(database)
    assert created["detail"] == {"changes": {"userName": [None, "u1"]}, "via": "Bulk"}
    assert (refused["operation"], refused["status"], refused["resource_type"]) == (
        "POST",
        409,
        "User",
    )
    assert "changes" not in refused["detail"]
    assert refused["detail"]["error"]["scimType"] == "uniqueness"
    assert patched["detail"]["changes"] == {"title": [None, "CTO"]}
    assert patched["resource_id"] == created["resource_id"]
    assert len({r["request_id"] for r in (created, refused, patched)}) == 1


@pytest.mark.parametrize("endpoint", ["Users", "Groups"])
def test_a_refused_write_is_recorded_without_a_diff_and_changes_nothing_else(
    scim: Any, database: Database, endpoint: str
) -> None:
    response = scim.put(f"/{endpoint}/not-there", {"userName": "x", "displayName": "x"})
    assert response.status_code == 404
    record = only(database)
    assert (record["operation"], record["status"], record["resource_id"]) == (
        "PUT",
        404,
        "not-there",
    )
    assert record["resource_type"] == endpoint.removesuffix("s")
    assert set(record["detail"]) == {"error"}
    with database.read() as session:
        assert session.scalar(text("SELECT count(*) FROM outbox")) == 0


def test_a_read_only_token_trying_to_write_is_recorded(db_url: str, database: Database) -> None:
    app = create_app(Settings(database_url=db_url), db=database)
    scim = Client(app, new_token(database, "auditor", read_only=True))
    assert scim.send("PATCH", "/Users/u-1", patch()).status_code == 403
    assert scim.send("GET", "/Users/u-1").status_code == 404  # reads are not audited
    record = only(database)
    assert (record["actor"], record["idp"], record["operation"], record["status"]) == (
        "auditor",
        "acme",
        "PATCH",
        403,
    )
    assert (record["resource_type"], record["resource_id"]) == ("User", "u-1")


def test_an_invalid_body_is_a_refused_write_too(scim: Any, database: Database) -> None:
    response = scim.post("/Users", {"displayName": "no userName"})
    assert response.status_code == 400
    record = only(database)
    assert record["status"] == 400 and record["detail"]["error"]["status"] == 400


def test_a_write_that_changes_nothing_is_still_recorded_with_an_empty_diff(
    scim: Any, database: Database
) -> None:
    uid = scim.post("/Users", {"userName": "ada@example.com"}).json["id"]
    scim.put("/Users/" + uid, {"userName": "ada@example.com"})
    assert records(database)[-1]["detail"]["changes"] == {}


def _dump(database: Database, db_url: str) -> bytes:
    """Every byte the store holds: the SQLite file (and its WAL), or a dump of PostgreSQL's
    audit table as text."""
    path = sqlite_path(db_url)
    if path is not None:
        database.dispose()  # checkpoint nothing away: read the main file and the WAL
        return b"".join(Path(p).read_bytes() for p in (path, f"{path}-wal") if Path(p).exists())
    with database.read() as session:
        rows = session.execute(text("SELECT * FROM audit_records")).all()
    return repr(rows).encode()


@pytest.mark.parametrize("policy", ["hash", "drop"])
def test_a_password_and_the_bearer_token_never_reach_the_audit_trail(
    db_url: str, database: Database, policy: str
) -> None:
    app = create_app(Settings(database_url=db_url, password_policy=policy), db=database)
    token = new_token(database, "okta")
    scim = Client(app, token)
    doc = {"userName": "ada@example.com", "password": PASSWORD}
    uid = scim.send("POST", "/Users", doc).json["id"]
    scim.send("PUT", "/Users/" + uid, {"userName": "ada@example.com", "password": PASSWORD + "2"})
    body = patch({"op": "replace", "path": "password", "value": PASSWORD + "3"})
    scim.send("PATCH", "/Users/" + uid, body)
    # Refused writes carrying a password: a clash, and a bad Bulk operation.
    scim.send("POST", "/Users", {"userName": "ada@example.com", "password": PASSWORD + "4"})
    bulk_op = {"method": "POST", "path": "/Users", "bulkId": "x", "data": {"password": PASSWORD}}
    scim.send("POST", "/Bulk", {"schemas": [BULK_URN], "Operations": [bulk_op]})
    found = records(database)
    assert len(found) == 5
    assert found[0]["detail"]["changes"]["password"] == [None, "[redacted]"]
    assert found[2]["detail"]["changes"]["password"] == [None, "[redacted]"]
    dump = _dump(database, db_url)
    assert PASSWORD.encode() not in dump
    assert token.encode() not in dump
    if sqlite_path(db_url) is None:
        assert b"redacted" in dump  # the dump does hold the audit records


def test_with_the_trail_off_writes_leave_no_record(db_url: str, database: Database) -> None:
    app = create_app(Settings(database_url=db_url, audit_enabled=False), db=database)
    scim = Client(app, new_token(database))
    uid = scim.send("POST", "/Users", {"userName": "ada@example.com"}).json["id"]
    scim.send("DELETE", "/Users/" + uid)
    scim.send("POST", "/Users", {})
    assert records(database) == []


def test_a_secret_sub_attribute_is_redacted_wherever_it_is_nested(database: Database) -> None:
    from scim_bridge.directory import audit
    from scim_bridge.directory.rows import Context
    from scim_bridge.directory.tokens import Principal

    before = {"x509Certificates": [{"value": "A"}], "ims": [{"value": "me", "password": "p1"}]}
    after = {"ims": [{"value": "me", "Password": "p2"}], "title": "CTO"}
    ctx = Context(principal=Principal(1, "okta", "okta", "okta"), now=datetime.now(UTC))
    with database.transaction() as cur:
        audit.record_change(
            cur,
            ctx,
            resource_type="User",
            resource_id="u1",
            operation="PUT",
            status=200,
            changes=audit.diff(before, after),
        )
    assert only(database)["detail"]["changes"] == {
        "ims": [
            [{"value": "me", "password": "[redacted]"}],
            [{"value": "me", "Password": "[redacted]"}],
        ],
        "title": [None, "CTO"],
        "x509Certificates": [[{"value": "A"}], None],
    }
