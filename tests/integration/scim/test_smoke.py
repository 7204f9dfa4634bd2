"""First end-to-end path through the Flask app: create, read, filter, patch, delete."""

from __future__ import annotations

from typing import Any

USER = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "bjensen@example.com",
    "name": {"givenName": "Barbara", "familyName": "Jensen"},
    "emails": [{"value": "bjensen@example.com", "type": "work", "primary": True}],
    "active": True,
}


def test_user_lifecycle(scim: Any) -> None:
    created = scim.post("/Users", USER)
    assert created.status_code == 201, created.json
    uid = created.json["id"]
    assert created.headers["Content-Type"].startswith("application/scim+json")
    assert created.headers["ETag"] == created.json["meta"]["version"]
    got = scim.get(f"/Users/{uid}")
    assert got.json["userName"] == "bjensen@example.com"
    found = scim.get('/Users?filter=userName eq "BJENSEN@example.com"')
    assert found.json["totalResults"] == 1
    patched = scim.patch(
        f"/Users/{uid}",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": False}}],
        },
    )
    assert patched.status_code == 200, patched.json
    assert patched.json["active"] is False
    assert scim.delete(f"/Users/{uid}").status_code == 204
    assert scim.get(f"/Users/{uid}").status_code == 404


def test_entra_additive_profile_adds_a_partial_replace_list(scim_as: Any) -> None:
    scim = scim_as("entra-x", "entra-additive")
    a = scim.post("/Users", {**USER, "userName": "a@example.com"}).json["id"]
    b = scim.post("/Users", {**USER, "userName": "b@example.com"}).json["id"]
    group = scim.post("/Groups", {"displayName": "G", "members": [{"value": a}]}).json["id"]
    replace = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "members", "value": [{"value": b}]}],
    }
    assert scim.patch(f"/Groups/{group}", replace).status_code == 204
    members = {m["value"] for m in scim.get(f"/Groups/{group}").json["members"]}
    assert members == {a, b}


def test_locations_follow_the_host_each_request_names(scim: Any) -> None:
    uid = scim.post("/Users", USER).json["id"]
    for host in ("scim.example.com", "bridge.internal:8443", "scim.example.com"):
        got = scim.get(f"/Users/{uid}", Host=host).json
        assert got["meta"]["location"] == f"http://{host}/scim/v2/Users/{uid}"
    created = scim.post("/Users", {**USER, "userName": "other@example.com"}, Host="x.example")
    assert created.headers["Location"].startswith("http://x.example/scim/v2/Users/")
