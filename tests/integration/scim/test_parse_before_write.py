"""Parse before write: a bad query parameter is a 400 that stored nothing (issue 9, finding 6).

`POST /Users?count=notanumber` used to create the user, commit, and only then answer 400 while
rendering the response. Every query parameter is now checked before a transaction opens.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import text

from scim_bridge.directory.db import Database

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK_URN = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
SEARCH_URN = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
TABLES = ("users", "user_values", "groups", "group_members", "outbox")

#: A bad value for each query parameter, and the scimType its 400 carries.
BAD_PARAMETERS = [
    ("count=notanumber", "invalidValue"),
    ("startIndex=first", "invalidValue"),
    ("count=1e999", "invalidValue"),
    ("filter=" + quote('userName eq "a'), "invalidFilter"),
    ("filter=" + quote('userName eq "\\u0000"'), "invalidFilter"),
    ("filter=" + quote('title co "' + "x" * 9000 + '"'), "invalidFilter"),
    ("sortBy=" + quote("[["), "invalidFilter"),
    ("sortOrder=sideways", "invalidValue"),
    ("attributes=a%00b", "invalidValue"),
    ("excludedAttributes=emails%00", "invalidValue"),
]


def snapshot(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every directory table, the outbox included."""
    with database.read() as session:
        return {
            t: sorted((tuple(r) for r in session.execute(text(f"SELECT * FROM {t}"))), key=repr)  # noqa: S608
            for t in TABLES
        }


def write_requests(uid: str, gid: str) -> list[tuple[str, str, Any]]:
    """One request per write endpoint, each valid but for its query string."""
    patch = {
        "schemas": [PATCH_URN],
        "Operations": [{"op": "replace", "path": "title", "value": "T"}],
    }
    rename = {
        "schemas": [PATCH_URN],
        "Operations": [{"op": "replace", "path": "displayName", "value": "H"}],
    }
    bulk = {
        "schemas": [BULK_URN],
        "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "b", "data": {"userName": "carol"}},
            {"method": "PATCH", "path": f"/Users/{uid}", "data": patch},
        ],
    }
    return [
        ("POST", "/Users", {"schemas": [USER_URN], "userName": "bob"}),
        ("POST", "/Groups", {"schemas": [GROUP_URN], "displayName": "New"}),
        ("PUT", f"/Users/{uid}", {"schemas": [USER_URN], "userName": "alice", "title": "T"}),
        ("PUT", f"/Groups/{gid}", {"schemas": [GROUP_URN], "displayName": "H"}),
        ("PATCH", f"/Users/{uid}", patch),
        ("PATCH", f"/Groups/{gid}", rename),
        ("DELETE", f"/Users/{uid}", None),
        ("DELETE", f"/Groups/{gid}", None),
        ("POST", "/Bulk", bulk),
    ]


@pytest.mark.parametrize(("query", "scim_type"), BAD_PARAMETERS)
def test_a_write_with_a_bad_query_parameter_is_400_and_stores_nothing(
    scim: Any, database: Database, query: str, scim_type: str
) -> None:
    uid = scim.post("/Users", {"schemas": [USER_URN], "userName": "alice"}).json["id"]
    gid = scim.post("/Groups", {"displayName": "G", "members": [{"value": uid}]}).json["id"]
    before = snapshot(database)
    for method, path, body in write_requests(uid, gid):
        response = scim.request(method, f"{path}?{query}", body)
        where = f"{method} {path}?{query[:40]}"
        assert response.status_code == 400, (where, response.get_data(as_text=True)[:300])
        assert response.json["scimType"] == scim_type, (where, response.json)
        assert snapshot(database) == before, f"{where} changed stored data"


@pytest.mark.parametrize(("query", "scim_type"), BAD_PARAMETERS)
@pytest.mark.parametrize("path", ["/Users/.search", "/Groups/.search", "/.search"])
def test_a_search_with_a_bad_query_parameter_is_400(
    scim: Any, query: str, scim_type: str, path: str
) -> None:
    response = scim.post(f"{path}?{query}", {"schemas": [SEARCH_URN]})
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert response.json["scimType"] == scim_type


def test_good_query_parameters_on_a_write_still_shape_the_response(scim: Any) -> None:
    """RFC 7644 §3.9: attributes / excludedAttributes apply to what a write returns."""
    created = scim.post("/Users?attributes=userName", {"schemas": [USER_URN], "userName": "dave"})
    assert created.status_code == 201
    assert set(created.json) == {"id", "schemas", "userName"}
    uid = created.json["id"]
    replaced = scim.put(
        f"/Users/{uid}?excludedAttributes=title,meta",
        {"schemas": [USER_URN], "userName": "dave", "title": "T"},
    )
    assert replaced.status_code == 200
    assert "title" not in replaced.json and "meta" not in replaced.json
    # Parameters that mean nothing to a write are checked, then ignored.
    deleted = scim.delete(f"/Users/{uid}?count=5&startIndex=2&sortOrder=descending")
    assert deleted.status_code == 204


def test_discovery_endpoints_leave_query_parameters_unread(scim: Any) -> None:
    for path in ("/ServiceProviderConfig", "/ResourceTypes", "/Schemas"):
        assert scim.get(f"{path}?count=notanumber").status_code == 200
