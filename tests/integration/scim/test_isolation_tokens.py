"""Shared and read-only tokens, and group membership across IdPs (issue 9, finding 2).

A member id of another IdP is treated exactly as an id that does not exist; a group's members
and a user's groups never show another IdP's resources, nor do membership filters match them.
Only a shared token can link resources of two IdPs, and a scoped change leaves such links alone.
"""

from __future__ import annotations

from typing import Any

import pytest
from isolation_support import (
    BULK_URN,
    Idps,
    client_for,
    created,
    group,
    idp_of,
    patch,
    q,
    snapshot,
    token,
    unknown_id,
    user,
)
from scim_client import ScimClient

from scim_bridge.directory.db import Database


def members(client: ScimClient, gid: str) -> set[str]:
    response = client.get(f"/Groups/{gid}")
    assert response.status_code == 200, response.get_json()
    return {m["value"] for m in response.get_json().get("members") or []}


def groups_of(client: ScimClient, uid: str) -> set[str]:
    response = client.get(f"/Users/{uid}")
    assert response.status_code == 200, response.get_json()
    return {g["value"] for g in response.get_json().get("groups") or []}


def answer(response: Any, *ids: str) -> tuple[int, str | None, str | None]:
    """Status, scimType and detail with the ids named replaced by one placeholder."""
    body = response.get_json() or {}
    detail = body.get("detail")
    if isinstance(detail, str):
        for i in ids:
            detail = detail.replace(i, "<id>")
    return response.status_code, body.get("scimType"), detail


# --- membership across IdPs ------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["auto", "entra", "okta", "strict"])
def test_another_idps_member_id_is_answered_as_an_unknown_id(
    app: Any, database: Database, profile: str
) -> None:
    a = client_for(app, token(database, "a", idp="idp-a", profile=profile))
    b = client_for(app, token(database, "b", idp="idp-b", profile=profile))
    everyone = client_for(app, token(database, "everyone", shared=True))
    theirs = created(a.post("/Users", user("alice@a.example")))
    their_group = created(a.post("/Groups", group("A's")))
    mine = created(b.post("/Groups", group("B's")))
    requests = (
        lambda m: b.post("/Groups", group(f"New {m}", [m])),
        lambda m: b.patch(
            f"/Groups/{mine}", patch({"op": "add", "path": "members", "value": [{"value": m}]})
        ),
        lambda m: b.patch(
            f"/Groups/{mine}",
            patch({"op": "replace", "path": "members", "value": [{"value": m}]}),
        ),
        lambda m: b.put(f"/Groups/{mine}", group("B's", [m])),
    )
    for other in (theirs, their_group):
        for send in requests:
            # Whatever this profile does with an id that does not exist (mscoll decides),
            # another IdP's id gets the same answer: status, scimType and words.
            nobody = unknown_id()
            assert answer(send(other), other) == answer(send(nobody), nobody)
        has_member = q(f'members.value eq "{other}"')
        linked = everyone.ids(f"/Groups?filter={has_member}")
        assert linked == set()
    assert members(a, their_group) == set()


def test_members_and_groups_render_only_the_callers_idp(idps: Idps) -> None:
    ua = created(idps.a.post("/Users", user("alice@a.example")))
    ga = created(idps.a.post("/Groups", group("A's", [ua])))
    ub = created(idps.b.post("/Users", user("bob@b.example")))
    gb = created(idps.b.post("/Groups", group("B's", [ub])))
    # Only a shared token can link two IdPs' resources (a migration).
    linked = idps.shared.patch(
        f"/Groups/{ga}",
        patch({"op": "add", "path": "members", "value": [{"value": ub}, {"value": gb}]}),
    )
    assert linked.status_code in (200, 204), linked.get_json()
    assert members(idps.shared, ga) == {ua, ub, gb}
    assert members(idps.a, ga) == {ua}
    assert groups_of(idps.b, ub) == {gb}
    assert groups_of(idps.shared, ub) == {ga, gb}
    by_name = q('displayName eq "A\'s"')
    listed = idps.a.get(f"/Groups?filter={by_name}").get_json()
    assert {m["value"] for m in listed["Resources"][0]["members"]} == {ua}
    searched = idps.b.search("/Users/.search", 'userName eq "bob@b.example"').get_json()
    assert [g["value"] for g in searched["Resources"][0]["groups"]] == [gb]


@pytest.mark.parametrize(
    ("endpoint", "flt", "who"),
    [
        ("Groups", 'members.value eq "{ub}"', "a"),
        ("Groups", 'members[value eq "{ub}"]', "a"),
        ("Groups", 'members.value eq "{gb}"', "a"),
        ("Groups", 'members.display eq "bob@b.example"', "a"),
        ("Users", 'groups.value eq "{ga}"', "b"),
        ("Users", 'groups[value eq "{ga}"]', "b"),
        ("Users", 'groups.display eq "A\'s"', "b"),
    ],
)
def test_membership_filters_never_match_across_idps(
    idps: Idps, endpoint: str, flt: str, who: str
) -> None:
    ua = created(idps.a.post("/Users", user("alice@a.example")))
    ga = created(idps.a.post("/Groups", group("A's", [ua])))
    ub = created(idps.b.post("/Users", user("bob@b.example", displayName="bob@b.example")))
    gb = created(idps.b.post("/Groups", group("B's")))
    idps.shared.patch(
        f"/Groups/{ga}",
        patch({"op": "add", "path": "members", "value": [{"value": ub}, {"value": gb}]}),
    )
    flt = flt.format(ua=ua, ga=ga, ub=ub, gb=gb)
    client = idps.a if who == "a" else idps.b
    assert client.ids(f"/{endpoint}?filter={q(flt)}") == set()
    assert client.search(f"/{endpoint}/.search", flt).get_json()["totalResults"] == 0
    # The shared token sees the link its migration made.
    assert idps.shared.ids(f"/{endpoint}?filter={q(flt)}") == ({ga} if who == "a" else {ua, ub})


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "replace", "path": "members", "value": []},
        {"op": "remove", "path": "members"},
        {"op": "remove", "path": 'members[value eq "{ub}"]'},
        {"op": "remove", "path": "members", "value": [{"value": "{ub}"}]},
    ],
)
def test_a_scoped_change_leaves_links_it_cannot_see(idps: Idps, operation: dict[str, Any]) -> None:
    ua = created(idps.a.post("/Users", user("alice@a.example")))
    ga = created(idps.a.post("/Groups", group("A's", [ua])))
    ub = created(idps.b.post("/Users", user("bob@b.example")))
    idps.shared.patch(
        f"/Groups/{ga}", patch({"op": "add", "path": "members", "value": [{"value": ub}]})
    )
    op = {k: v.replace("{ub}", ub) if isinstance(v, str) else v for k, v in operation.items()}
    if op.get("value"):
        op["value"] = [{"value": ub}]
    response = idps.a.patch(f"/Groups/{ga}", patch(op))
    assert response.status_code in (200, 204), response.get_json()
    assert ub in members(idps.shared, ga)
    # PUT with A's own members only keeps B's member too.
    assert idps.a.put(f"/Groups/{ga}", group("A's", [ua])).status_code == 200
    assert members(idps.shared, ga) == {ua, ub}


# --- shared tokens ---------------------------------------------------------------------------


def test_a_shared_token_sees_and_writes_every_idp_and_creates_under_its_own_label(
    idps: Idps, database: Database
) -> None:
    ua = created(idps.a.post("/Users", user("alice@a.example")))
    ub = created(idps.b.post("/Users", user("bob@b.example")))
    assert idps.shared.ids("/Users") == {ua, ub}
    renamed = idps.shared.patch(
        f"/Users/{ub}", patch({"op": "replace", "path": "displayName", "value": "Bob B"})
    )
    assert renamed.status_code in (200, 204), renamed.get_json()
    assert idps.b.get(f"/Users/{ub}").get_json()["displayName"] == "Bob B"
    mine = created(idps.shared.post("/Groups", group("Everyone", [ua, ub])))
    assert idp_of(database, "groups", mine) == "migration"
    assert idp_of(database, "users", ub) == "idp-b"  # writing does not move it
    assert idps.a.get(f"/Groups/{mine}").status_code == 404
    assert idps.shared.delete(f"/Users/{ua}").status_code == 204
    assert idps.a.get(f"/Users/{ua}").status_code == 404


# --- read-only tokens ------------------------------------------------------------------------


def _assert_forbidden(response: Any) -> None:
    assert response.status_code == 403, response.get_json()
    body = response.get_json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert body["status"] == "403"
    assert "read-only" in body["detail"]


def test_a_read_only_token_reads_and_searches_its_idp(idps: Idps) -> None:
    ua = created(idps.a.post("/Users", user("alice@a.example")))
    ga = created(idps.a.post("/Groups", group("A's", [ua])))
    created(idps.b.post("/Users", user("bob@b.example")))
    ro = idps.a_read_only
    assert ro.get(f"/Users/{ua}").status_code == 200
    assert ro.get(f"/Groups/{ga}").status_code == 200
    assert ro.ids("/Users") == {ua}
    assert ro.ids("/Users/.search") == {ua}
    assert ro.ids("/Groups/.search") == {ga}
    assert ro.ids("/.search") == {ua, ga}


def test_a_read_only_token_is_refused_every_write_with_403(idps: Idps, database: Database) -> None:
    ua = created(idps.a.post("/Users", user("alice@a.example")))
    ga = created(idps.a.post("/Groups", group("A's", [ua])))
    ro = idps.a_read_only
    before = snapshot(database)
    _assert_forbidden(ro.post("/Users", user("new@a.example")))
    _assert_forbidden(ro.post("/Groups", group("New")))
    _assert_forbidden(ro.put(f"/Users/{ua}", user("alice@a.example", active=False)))
    _assert_forbidden(
        ro.patch(f"/Users/{ua}", patch({"op": "replace", "path": "active", "value": False}))
    )
    _assert_forbidden(ro.patch(f"/Groups/{ga}", patch({"op": "remove", "path": "members"})))
    _assert_forbidden(ro.delete(f"/Users/{ua}"))
    _assert_forbidden(ro.delete(f"/Groups/{ga}"))
    bulk = {
        "schemas": [BULK_URN],
        "Operations": [{"method": "POST", "path": "/Users", "bulkId": "x", "data": user("b@x")}],
    }
    _assert_forbidden(ro.post("/Bulk", bulk))
    assert snapshot(database) == before


def test_a_shared_read_only_token_sees_every_idp_and_writes_nothing(
    app: Any, idps: Idps, database: Database
) -> None:
    auditor = client_for(app, token(database, "auditor", shared=True, read_only=True))
    ua = created(idps.a.post("/Users", user("alice@a.example")))
    ub = created(idps.b.post("/Users", user("bob@b.example")))
    assert auditor.ids("/Users") == {ua, ub}
    _assert_forbidden(auditor.delete(f"/Users/{ub}"))
    assert idps.b.get(f"/Users/{ub}").status_code == 200
