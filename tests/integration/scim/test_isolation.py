"""IdPs are isolated (issue 9, finding 2): a token sees and changes only its own IdP's resources.

Another IdP's resource is answered exactly as a missing one, on every endpoint: by id, list,
filter, ``.search``, root ``.search`` and Bulk. userName and group displayName stay unique across
IdPs, and the 409 tells nothing of the holder. externalId is not unique (RFC 7643 §3.1).
"""

from __future__ import annotations

from typing import Any

import pytest
from isolation_support import (
    BULK_URN,
    Idps,
    assert_not_found,
    created,
    group,
    idp_of,
    patch,
    q,
    snapshot,
    unknown_id,
    user,
)

from scim_bridge.directory.db import Database


def seed(idps: Idps) -> dict[str, str]:
    """IdP A: a user in a group; IdP B: a user in a group. Returns their ids."""
    ua = created(idps.a.post("/Users", user("alice@a.example", externalId="ext-1")))
    ga = created(idps.a.post("/Groups", group("Sales A", [ua], externalId="gext-1")))
    ub = created(idps.b.post("/Users", user("bob@b.example", externalId="ext-1")))
    gb = created(idps.b.post("/Groups", group("Sales B", [ub], externalId="gext-1")))
    return {"ua": ua, "ga": ga, "ub": ub, "gb": gb}


# --- by id ---------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["Users", "Groups"])
def test_another_idps_resource_is_404_on_every_method_by_id(
    idps: Idps, database: Database, endpoint: str
) -> None:
    ids = seed(idps)
    theirs = ids["ua"] if endpoint == "Users" else ids["ga"]
    body = user("mallory@b.example") if endpoint == "Users" else group("Mallory's")
    before = snapshot(database)
    assert_not_found(idps.b.get(f"/{endpoint}/{theirs}"))
    assert_not_found(idps.b.put(f"/{endpoint}/{theirs}", body))
    emptied = patch({"op": "replace", "path": "members", "value": []})
    deactivate = patch({"op": "replace", "value": {"active": False}})
    assert_not_found(
        idps.b.patch(f"/{endpoint}/{theirs}", deactivate if endpoint == "Users" else emptied)
    )
    assert_not_found(idps.b.delete(f"/{endpoint}/{theirs}"))
    # The same answers as for an id nobody has: nothing tells that the resource exists.
    missing = idps.b.get(f"/{endpoint}/{unknown_id()}")
    assert missing.status_code == 404
    assert snapshot(database) == before
    # The owner still has it, unchanged (and a shared token sees it too).
    assert idps.a.get(f"/{endpoint}/{theirs}").status_code == 200
    assert idps.shared.get(f"/{endpoint}/{theirs}").status_code == 200


def test_if_none_match_does_not_reveal_another_idps_version(idps: Idps) -> None:
    ids = seed(idps)
    etag = idps.a.get(f"/Users/{ids['ua']}").headers["ETag"]
    assert_not_found(idps.b.get(f"/Users/{ids['ua']}", **{"If-None-Match": etag}))
    deactivate = patch({"op": "replace", "path": "active", "value": False})
    assert_not_found(idps.b.patch(f"/Users/{ids['ua']}", deactivate, **{"If-Match": etag}))


# --- list, filter, .search -------------------------------------------------------------------


def test_lists_show_only_the_callers_idp(idps: Idps) -> None:
    ids = seed(idps)
    assert idps.a.ids("/Users") == {ids["ua"]}
    assert idps.b.ids("/Users") == {ids["ub"]}
    assert idps.a.ids("/Groups") == {ids["ga"]}
    assert idps.b.ids("/Groups") == {ids["gb"]}
    total = idps.b.get("/Users?count=0").get_json()["totalResults"]
    assert total == 1


@pytest.mark.parametrize(
    ("endpoint", "flt"),
    [
        ("Users", 'externalId eq "ext-1"'),
        ("Users", 'userName eq "alice@a.example"'),  # the existence-check fast path
        ("Users", 'userName eq "ALICE@a.example"'),
        ("Users", 'userName eq "alice@a.example" and userName pr'),  # the general compiler
        ("Users", 'userName sw "alice"'),
        ("Users", 'emails[value eq "alice@a.example"]'),
        ("Users", 'id eq "{ua}"'),
        ("Groups", 'externalId eq "gext-1"'),
        ("Groups", 'displayName eq "Sales A"'),
        ("Groups", 'id eq "{ga}"'),
    ],
)
def test_filters_never_match_another_idps_resources(idps: Idps, endpoint: str, flt: str) -> None:
    ids = seed(idps)
    flt = flt.format(**ids)
    mine = idps.a.ids(f"/{endpoint}?filter={q(flt)}")
    assert len(mine) == 1 and mine <= {ids["ua"], ids["ga"]}
    for path in (f"/{endpoint}?filter={q(flt)}", f"/{endpoint}/.search", "/.search"):
        answer = idps.b.search(path, flt) if path.endswith(".search") else idps.b.get(path)
        assert answer.status_code == 200, answer.get_json()
        body = answer.get_json()
        found = {r["id"] for r in body["Resources"]}
        assert not found & {ids["ua"], ids["ga"]}, (path, body)
        if "externalId" not in flt:
            assert body["totalResults"] == 0, (path, body)


def test_existence_check_answers_as_the_general_filter_for_each_idp(idps: Idps) -> None:
    seed(idps)
    lookup = q('userName eq "alice@a.example"')
    compiled = q('userName eq "alice@a.example" and userName pr')
    for client, expected in ((idps.a, 1), (idps.b, 0), (idps.shared, 1)):
        fast = client.get(f"/Users?filter={lookup}").get_json()
        general = client.get(f"/Users?filter={compiled}").get_json()
        assert fast == general
        assert fast["totalResults"] == expected


def test_search_endpoints_list_only_the_callers_idp(idps: Idps) -> None:
    ids = seed(idps)
    assert idps.b.ids("/Users/.search") == {ids["ub"]}
    assert idps.b.ids("/Groups/.search") == {ids["gb"]}
    assert idps.b.ids("/.search") == {ids["ub"], ids["gb"]}
    assert idps.b.search("/.search", count=0).get_json()["totalResults"] == 2
    assert idps.shared.ids("/.search") == set(ids.values())


def test_paging_hints_of_one_idp_never_steer_anothers_pages(idps: Idps) -> None:
    mine = {created(idps.a.post("/Users", user(f"a{i}@a.example"))) for i in range(5)}
    theirs = {created(idps.b.post("/Users", user(f"b{i}@b.example"))) for i in range(4)}
    for client, expected in ((idps.a, mine), (idps.b, theirs), (idps.a, mine)):
        seen: list[str] = []
        for start in (1, 3, 5, 7):
            page = client.get(f"/Users?startIndex={start}&count=2").get_json()
            assert page["totalResults"] == len(expected)
            seen += [r["id"] for r in page["Resources"]]
        assert len(seen) == len(set(seen)) and set(seen) == expected


# --- Bulk ------------------------------------------------------------------------------------


def test_bulk_operations_on_another_idps_resources_answer_as_standalone_requests(
    idps: Idps, database: Database
) -> None:
    ids = seed(idps)
    before = snapshot(database)
    operations = [
        {"method": "PUT", "path": f"/Users/{ids['ua']}", "data": user("mallory@b.example")},
        {
            "method": "PATCH",
            "path": f"/Groups/{ids['ga']}",
            "data": patch({"op": "remove", "path": "members"}),
        },
        {"method": "DELETE", "path": f"/Users/{ids['ua']}"},
        {"method": "DELETE", "path": f"/Groups/{ids['ga']}"},
    ]
    response = idps.b.post("/Bulk", {"schemas": [BULK_URN], "Operations": operations})
    assert response.status_code == 200, response.get_json()
    results = response.get_json()["Operations"]
    assert [r["status"] for r in results] == ["404"] * 4, results
    assert snapshot(database) == before


def test_bulk_creates_belong_to_the_callers_idp(idps: Idps, database: Database) -> None:
    seed(idps)
    operations = [
        {"method": "POST", "path": "/Users", "bulkId": "u", "data": user("carol@b.example")},
        {
            "method": "POST",
            "path": "/Groups",
            "bulkId": "g",
            "data": group("Bulk B", ["bulkId:u"]),
        },
    ]
    response = idps.b.post("/Bulk", {"schemas": [BULK_URN], "Operations": operations})
    results = response.get_json()["Operations"]
    assert [r["status"] for r in results] == ["201", "201"], results
    uid = results[0]["location"].rsplit("/", 1)[1]
    gid = results[1]["location"].rsplit("/", 1)[1]
    assert idp_of(database, "users", uid) == idp_of(database, "groups", gid) == "idp-b"
    assert_not_found(idps.a.get(f"/Users/{uid}"))
    assert [m["value"] for m in idps.b.get(f"/Groups/{gid}").get_json()["members"]] == [uid]


# --- uniqueness across IdPs, externalId within one -------------------------------------------


def _assert_taken_without_their_data(response: Any, name: str, *secrets: str) -> None:
    assert response.status_code == 409, response.get_json()
    body = response.get_json()
    assert body["scimType"] == "uniqueness"
    detail = body["detail"]
    assert "already in use in this directory" in detail and "another IdP" in detail
    assert name in detail
    for secret in secrets:
        assert secret not in response.get_data(as_text=True)


def test_username_taken_by_another_idp_is_409_without_their_data(
    idps: Idps, database: Database
) -> None:
    ids = seed(idps)
    secrets = (ids["ua"], "idp-a", "okta-a", "ext-1", "Given")
    before = snapshot(database)
    taken = idps.b.post("/Users", user("Alice@A.example"))
    _assert_taken_without_their_data(taken, "Alice@A.example", *secrets)
    renamed = idps.b.patch(
        f"/Users/{ids['ub']}",
        patch({"op": "replace", "path": "userName", "value": "alice@a.example"}),
    )
    _assert_taken_without_their_data(renamed, "alice@a.example", *secrets)
    put = idps.b.put(f"/Users/{ids['ub']}", user("ALICE@a.example"))
    _assert_taken_without_their_data(put, "ALICE@a.example", *secrets)
    assert snapshot(database) == before


def test_group_display_name_taken_by_another_idp_is_409_without_their_data(
    idps: Idps, database: Database
) -> None:
    ids = seed(idps)
    secrets = (ids["ga"], ids["ua"], "idp-a", "okta-a", "gext-1")
    before = snapshot(database)
    _assert_taken_without_their_data(idps.b.post("/Groups", group("sales a")), "sales a", *secrets)
    renamed = idps.b.put(f"/Groups/{ids['gb']}", group("SALES A"))
    _assert_taken_without_their_data(renamed, "SALES A", *secrets)
    assert snapshot(database) == before


@pytest.mark.parametrize("endpoint", ["Users", "Groups"])
def test_duplicate_external_ids_within_an_idp_are_accepted_and_all_found(
    idps: Idps, endpoint: str
) -> None:
    def body(i: int) -> dict[str, Any]:
        if endpoint == "Users":
            return user(f"dup{i}@example.com", externalId="same")
        return group(f"Dup {i}", externalId="same")

    mine = {created(idps.a.post(f"/{endpoint}", body(i))) for i in range(3)}
    theirs = {created(idps.b.post(f"/{endpoint}", body(i))) for i in range(3, 5)}
    flt = q('externalId eq "same"')
    assert idps.a.ids(f"/{endpoint}?filter={flt}") == mine
    assert idps.b.ids(f"/{endpoint}?filter={flt}") == theirs
    assert idps.shared.ids(f"/{endpoint}?filter={flt}") == mine | theirs
    # A PUT keeping the shared externalId is accepted too.
    one = sorted(mine)[0]
    assert idps.a.put(f"/{endpoint}/{one}", body(9)).status_code == 200
