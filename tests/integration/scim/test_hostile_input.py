"""Input that passes the raw-text checks must still never give a 500 (issue 9, finding 4).

Filter literals and PATCH value-path filters decode JSON escapes (``\\u0000``, ``\\ud800``) after
the raw request text was checked; the decoded text is checked the same way. Filters are capped
in length, ``startIndex``/``count`` are clamped (RFC 7644 §3.4.2.4), and long ``co``/``sw``/``ew``
literals match literally on SQLite and PostgreSQL, LIKE wildcards and escapes included.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import text

from scim_bridge.app import create_app
from scim_bridge.directory.db import Database
from scim_bridge.directory.tokens import create_token
from scim_bridge.http.runtime import utc_now
from scim_bridge.settings import Settings

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH_URN = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
TABLES = ("users", "user_values", "groups", "group_members", "outbox")

#: Escapes as a client writes them inside a filter's quoted literal (JSON string rules).
DECODED_BAD = ["\\u0000", "a\\u0000b", "\\ud800", "x\\udfff", "\\uDBFF"]


def snapshot(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every directory table."""
    with database.read() as session:
        return {
            t: sorted((tuple(r) for r in session.execute(text(f"SELECT * FROM {t}"))), key=repr)  # noqa: S608
            for t in TABLES
        }


def assert_error(response: Any, status: int, scim_type: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    doc: dict[str, Any] = response.json
    assert doc["status"] == str(status)
    assert doc.get("scimType") == scim_type, doc
    return doc


def seeded(scim: Any) -> tuple[str, str]:
    """One user with an email, and a group holding them; return their ids."""
    body = {"schemas": [USER_URN], "userName": "alice", "emails": [{"value": "a@x.test"}]}
    uid = scim.post("/Users", body).json["id"]
    gid = scim.post("/Groups", {"displayName": "G", "members": [{"value": uid}]}).json["id"]
    return uid, gid


# --- decoded literals ------------------------------------------------------------------------


@pytest.mark.parametrize("escaped", DECODED_BAD)
@pytest.mark.parametrize(
    "how", ["GET /Users", "GET /Groups", "POST /Users/.search", "POST /.search"]
)
def test_an_escaped_nul_or_lone_surrogate_in_a_filter_literal_is_invalid_filter(
    scim: Any, escaped: str, how: str
) -> None:
    seeded(scim)
    attr = "userName" if "Users" in how else "displayName"
    flt = f'{attr} eq "{escaped}" or {attr} co "{escaped}"'
    if how.startswith("GET"):
        response = scim.get(f"{how[4:]}?{urlencode({'filter': flt})}")
    else:
        response = scim.post(how[5:], {"schemas": [SEARCH_URN], "filter": flt})
    doc = assert_error(response, 400, "invalidFilter")
    assert "NUL or an unpaired surrogate" in doc["detail"]


@pytest.mark.parametrize("escaped", DECODED_BAD)
def test_an_escaped_nul_or_surrogate_in_a_user_patch_path_is_invalid_path_and_stores_nothing(
    scim: Any, database: Database, escaped: str
) -> None:
    uid, _ = seeded(scim)
    before = snapshot(database)
    # No email matches, so without the check the filter's value would seed a new element.
    op = {"op": "add", "path": f'emails[value eq "{escaped}"].type', "value": "work"}
    response = scim.patch(f"/Users/{uid}", {"schemas": [PATCH_URN], "Operations": [op]})
    assert_error(response, 400, "invalidPath")
    assert snapshot(database) == before
    with database.read() as session:
        stored = session.execute(text("SELECT data FROM users")).scalars().all()
    assert all("\\u0000" not in json.dumps(d) and "\x00" not in json.dumps(d) for d in stored)


@pytest.mark.parametrize("escaped", DECODED_BAD)
def test_an_escaped_nul_or_surrogate_in_a_group_member_filter_is_invalid_path(
    scim: Any, database: Database, escaped: str
) -> None:
    _, gid = seeded(scim)
    before = snapshot(database)
    for path in (f'members[value eq "{escaped}"]', f'members[display co "{escaped}"]'):
        op = {"op": "remove", "path": path}
        response = scim.patch(f"/Groups/{gid}", {"schemas": [PATCH_URN], "Operations": [op]})
        assert_error(response, 400, "invalidPath")
    assert snapshot(database) == before


def test_a_bulk_patch_with_an_escaped_nul_in_its_path_fails_alone(
    scim: Any, database: Database
) -> None:
    uid, _ = seeded(scim)
    before = snapshot(database)
    op = {"op": "add", "path": 'emails[value eq "\\u0000"].type', "value": "work"}
    bulk = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {"method": "PATCH", "path": f"/Users/{uid}", "data": {"Operations": [op]}},
        ],
    }
    response = scim.post("/Bulk", bulk)
    assert response.status_code == 200, response.json
    result = response.json["Operations"][0]
    assert result["status"] == "400"
    assert result["response"]["scimType"] == "invalidPath"
    assert snapshot(database) == before


# --- filter length ---------------------------------------------------------------------------


def client_with(scim: Any, database: Database, db_url: str, **settings: Any) -> Any:
    """A client like ``scim``, on an app built with some settings changed."""
    app = create_app(Settings(database_url=db_url, **settings), db=database)
    with database.write() as session:
        _row, token = create_token(session, "capped", now=utc_now())
    return type(scim)(app.test_client(), token)


def test_a_filter_over_max_filter_chars_is_invalid_filter(
    scim: Any, database: Database, db_url: str
) -> None:
    scim = client_with(scim, database, db_url, max_filter_chars=64)
    at_cap = 'userName eq "' + "a" * (64 - len('userName eq ""')) + '"'
    assert len(at_cap) == 64
    assert scim.get(f"/Users?{urlencode({'filter': at_cap})}").status_code == 200
    over = at_cap[:-1] + 'a"'
    for response in (
        scim.get(f"/Users?{urlencode({'filter': over})}"),
        scim.post("/Users/.search", {"schemas": [SEARCH_URN], "filter": over}),
        scim.post("/.search", {"schemas": [SEARCH_URN], "filter": over}),
    ):
        doc = assert_error(response, 400, "invalidFilter")
        assert "64 characters" in doc["detail"]


def test_the_default_filter_cap_is_8_kib(scim: Any) -> None:
    flt = 'title co "' + "x" * 8181 + '"'
    assert len(flt) == 8192
    assert scim.get(f"/Users?{urlencode({'filter': flt})}").status_code == 200
    flt = 'title co "' + "x" * 8182 + '"'
    assert_error(scim.get(f"/Users?{urlencode({'filter': flt})}"), 400, "invalidFilter")


# --- startIndex and count --------------------------------------------------------------------


@pytest.mark.parametrize(
    "where", ["GET /Users", "GET /Groups", "POST /Users/.search", "POST /.search"]
)
@pytest.mark.parametrize("huge", [10**30, 2**63, 2**63 - 1, 2**64 + 7])
def test_a_huge_start_index_is_clamped_to_an_empty_page(scim: Any, where: str, huge: int) -> None:
    seeded(scim)
    for flt in (None, "id pr"):
        params: dict[str, Any] = {"startIndex": huge, "count": 10}
        if flt:
            params["filter"] = flt
        if where.startswith("GET"):
            response = scim.get(f"{where[4:]}?{urlencode(params)}")
        else:
            response = scim.post(where[5:], {"schemas": [SEARCH_URN], **params})
        assert response.status_code == 200, response.json
        doc = response.json
        assert doc["Resources"] == [] and doc["itemsPerPage"] == 0
        assert doc["totalResults"] == (2 if where == "POST /.search" else 1)
        assert 1 < doc["startIndex"] <= 2**31 - 1


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("1e30", 200),  # a JSON number too big for any database integer: clamped
        ("1e999", 400),  # infinity is not an integer
        ("-1e999", 400),
        ("2.5", 400),  # nor is a fraction
        ('"12"', 200),
        ("true", 400),
    ],
)
@pytest.mark.parametrize("name", ["startIndex", "count"])
def test_start_index_and_count_as_json_numbers(scim: Any, raw: str, status: int, name: str) -> None:
    body = '{"schemas": ["%s"], "%s": %s}' % (SEARCH_URN, name, raw)  # noqa: UP031
    response = scim.client.post(
        "/scim/v2/Users/.search",
        data=body,
        headers={**scim.headers, "Content-Type": "application/scim+json"},
    )
    if status == 400:
        assert_error(response, 400, "invalidValue")
    else:
        assert response.status_code == 200, response.json


def test_start_index_below_one_is_one_and_a_negative_count_is_zero(scim: Any) -> None:
    """RFC 7644 §3.4.2.4."""
    seeded(scim)
    low = scim.get("/Users?startIndex=-5").json
    assert low["startIndex"] == 1 and low["itemsPerPage"] == 1
    none = scim.get("/Users?count=-3").json
    assert none["totalResults"] == 1 and none["itemsPerPage"] == 0
    many = scim.get(f"/Users?count={10**30}").json
    assert many["itemsPerPage"] == 1


# --- long co / sw / ew literals ---------------------------------------------------------------

#: A value made of what LIKE treats specially (% _ and the escape character) and multi-byte
#: text, as long as a filter under the 8 KiB cap can carry.
TRICKY = "%_\\" + "é😀%x_\\y" * 1000 + "_%"


def test_long_co_sw_ew_literals_match_literally(scim: Any) -> None:
    def create(name: str, title: str) -> str:
        body = {"schemas": [USER_URN], "userName": name, "title": title, "externalId": name}
        response = scim.post("/Users", body)
        assert response.status_code == 201, response.json
        return str(response.json["id"])

    exact = create("a%_\\b", "head" + TRICKY + "tail")
    # What each pattern would match were % and _ wildcards, and \ an escape.
    create("aXYb", "head" + TRICKY.replace("%", "Z").replace("_", "Q") + "tail")
    create("a_Yb", "head" + TRICKY.replace("\\", "") + "tail")

    def found(flt: str) -> set[str]:
        assert len(flt) <= 8192
        response = scim.get(f"/Users?{urlencode({'filter': flt})}")
        assert response.status_code == 200, response.json
        return {r["id"] for r in response.json["Resources"]}

    literal = json.dumps(TRICKY, ensure_ascii=False)
    assert found(f"title co {literal}") == {exact}
    assert found(f"title sw {json.dumps('head' + TRICKY, ensure_ascii=False)}") == {exact}
    assert found(f"title ew {json.dumps(TRICKY + 'tail', ensure_ascii=False)}") == {exact}
    assert found(f"title ew {json.dumps(TRICKY.upper() + 'TAIL', ensure_ascii=False)}") == {
        exact
    }  # caseExact false
    for attr in ("userName", "externalId"):  # a lowered column; a caseExact one
        assert found(f'{attr} co "%_\\\\"') == {exact}
        assert found(f'{attr} sw "a%"') == {exact}
        assert found(f'{attr} ew "\\\\b"') == {exact}
    assert found('externalId sw "A%"') == set()  # caseExact
    assert found(f"userName co {literal}") == set()


def test_an_empty_co_sw_ew_literal_matches_every_value(scim: Any) -> None:
    seeded(scim)
    body = {"schemas": [USER_URN], "userName": "bob", "externalId": "Ext", "title": "T"}
    assert scim.post("/Users", body).status_code == 201
    for op in ("co", "sw", "ew"):
        for attr, expected in (("userName", 2), ("externalId", 1), ("title", 1)):
            flt = f'{attr} {op} ""'
            response = scim.get(f"/Users?{urlencode({'filter': flt})}")
            assert response.status_code == 200, response.json
            assert response.json["totalResults"] == expected, (op, attr)


def test_a_long_member_filter_in_a_group_patch_does_not_fail(scim: Any) -> None:
    _, gid = seeded(scim)
    for sub in ("display", "value"):
        path = f'members[{sub} co "' + "x%_" * 20_000 + '"]'
        op = {"op": "remove", "path": path}
        response = scim.patch(f"/Groups/{gid}", {"schemas": [PATCH_URN], "Operations": [op]})
        assert response.status_code in (200, 204), response.get_data(as_text=True)[:300]
    assert len(scim.get(f"/Groups/{gid}").json["members"]) == 1
