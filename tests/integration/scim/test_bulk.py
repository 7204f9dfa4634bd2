"""Bulk requests (RFC 7644 §3.7): bulkId references are resolved by one topological order.

Operations that reference no other run in request order; an operation waits for the POST whose
bulkId it references; circular references get 409 per operation (§3.7.1); failOnErrors stops
the request after that many errors (§3.7.3).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from scim_bridge.directory.db import Database

BULK_URN = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def bulk(scim: Any, operations: list[dict[str, Any]], **extra: Any) -> list[dict[str, Any]]:
    """Send a BulkRequest; return its results."""
    response = scim.post("/Bulk", {"schemas": [BULK_URN], "Operations": operations, **extra})
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    results: list[dict[str, Any]] = response.json["Operations"]
    return results


def new_user(bulk_id: str, name: str | None = None, **data: Any) -> dict[str, Any]:
    body = {"userName": bulk_id if name is None else name, **data}
    return {"method": "POST", "path": "/Users", "bulkId": bulk_id, "data": body}


def new_group(bulk_id: str, *members: str) -> dict[str, Any]:
    data = {"displayName": bulk_id, "members": [{"value": f"bulkId:{m}"} for m in members]}
    return {"method": "POST", "path": "/Groups", "bulkId": bulk_id, "data": data}


def stored(database: Database, table: str) -> int:
    with database.read() as session:
        return int(session.scalar(text(f"SELECT count(*) FROM {table}")) or 0)  # noqa: S608


def test_a_reference_to_a_later_operation_waits_for_it(scim: Any) -> None:
    results = bulk(scim, [new_group("team", "ann", "bob"), new_user("ann"), new_user("bob")])
    assert [r["status"] for r in results] == ["201", "201", "201"]
    assert [r["bulkId"] for r in results] == ["team", "ann", "bob"]  # request order
    group = scim.get(results[0]["location"].split("/scim/v2")[1]).json
    ids = {r["location"].rsplit("/", 1)[1] for r in results[1:]}
    assert {m["value"] for m in group["members"]} == ids


def test_a_long_chain_written_backwards_resolves(scim: Any, database: Database) -> None:
    """Each manager is created after the report that references them (200 operations)."""
    ops = [
        new_user(
            f"u{i}",
            **(
                {
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                        "manager": {"value": f"bulkId:u{i + 1}"}
                    }
                }
                if i < 199
                else {}
            ),
        )
        for i in range(200)
    ]
    results = bulk(scim, ops)
    assert {r["status"] for r in results} == {"201"}
    assert stored(database, "users") == 200
    ids = {r["bulkId"]: r["location"].rsplit("/", 1)[1] for r in results}
    first = scim.get(f"/Users/{ids['u0']}").json
    manager = first["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["manager"]
    assert manager["value"] == ids["u1"]


def test_operations_without_references_keep_request_order(scim: Any) -> None:
    """The second POST of the same userName is the one refused."""
    results = bulk(
        scim,
        [
            new_group("g", "late"),
            new_user("first", "same"),
            new_user("second", "same"),
            new_user("late"),
        ],
    )
    by_id = {r["bulkId"]: r["status"] for r in results}
    assert by_id == {"g": "201", "first": "201", "second": "409", "late": "201"}


def test_circular_references_get_409_each_and_the_rest_still_runs(
    scim: Any, database: Database
) -> None:
    results = bulk(
        scim,
        [
            new_group("a", "b"),
            new_user("free"),
            new_group("b", "a"),
            new_group("self", "self"),
            new_group("after", "a"),  # waits on the cycle, is not in it
        ],
    )
    by_id = {r["bulkId"]: r for r in results}
    assert [r["bulkId"] for r in results] == ["a", "free", "b", "self", "after"]
    assert by_id["free"]["status"] == "201"
    for name in ("a", "b", "self"):
        result = by_id[name]
        assert result["status"] == "409", result
        error = result["response"]
        assert error["status"] == "409" and "scimType" not in error
        assert "circular" in error["detail"] and "RFC 7644 §3.7.1" in error["detail"]
    assert "a, b" in by_id["a"]["response"]["detail"]
    assert by_id["after"]["status"] == "409"
    assert "bulkId a" in by_id["after"]["response"]["detail"]
    assert "circular" in by_id["after"]["response"]["detail"]
    assert stored(database, "groups") == 0
    assert stored(database, "users") == 1


def test_a_reference_to_a_failed_or_unknown_post_is_409(scim: Any) -> None:
    results = bulk(
        scim,
        [
            new_user("bad", ""),  # userName is required: 400
            new_group("g1", "bad"),
            new_group("g2", "nowhere"),
        ],
    )
    assert [r["status"] for r in results] == ["400", "409", "409"]
    assert "bulkId bad" in results[1]["response"]["detail"]
    assert "bulkId nowhere" in results[2]["response"]["detail"]


def test_a_bulk_id_used_twice_is_refused_the_second_time(scim: Any) -> None:
    results = bulk(scim, [new_user("x", "one"), new_user("x", "two"), new_group("g", "x")])
    assert [r["status"] for r in results] == ["201", "400", "201"]
    assert results[1]["response"]["scimType"] == "invalidValue"
    group = scim.get(results[2]["location"].split("/scim/v2")[1]).json
    assert group["members"][0]["value"] == results[0]["location"].rsplit("/", 1)[1]


def test_fail_on_errors_stops_after_that_many_errors(scim: Any, database: Database) -> None:
    ops = [
        new_group("g", "ok2"),  # waits for ok2, which never runs
        new_user("bad1", ""),
        new_user("ok1"),
        new_user("bad2", ""),
        new_user("ok2"),
    ]
    results = bulk(scim, ops, failOnErrors=2)
    assert [(r["bulkId"], r["status"]) for r in results] == [
        ("bad1", "400"),
        ("ok1", "201"),
        ("bad2", "400"),
    ]
    assert stored(database, "users") == 1 and stored(database, "groups") == 0


def test_fail_on_errors_counts_circular_references(scim: Any) -> None:
    results = bulk(scim, [new_group("a", "b"), new_group("b", "a")], failOnErrors=1)
    assert [(r["bulkId"], r["status"]) for r in results] == [("a", "409")]


def test_patch_and_delete_may_reference_a_post_of_the_same_request(scim: Any) -> None:
    patch = {
        "schemas": [PATCH_URN],
        "Operations": [{"op": "replace", "path": "title", "value": "T"}],
    }
    results = bulk(
        scim,
        [
            {"method": "PATCH", "path": "/Users/bulkId:u", "data": patch},
            new_user("u"),
            {"method": "DELETE", "path": "/Groups/bulkId:g"},
            new_group("g", "u"),
        ],
    )
    assert [r["status"] for r in results] == ["200", "201", "204", "201"]
    uid = results[1]["location"].rsplit("/", 1)[1]
    assert scim.get(f"/Users/{uid}").json["title"] == "T"
