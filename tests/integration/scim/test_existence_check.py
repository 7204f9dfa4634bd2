"""`userName eq "…"` is answered by one index lookup; every answer must be the one the general
filter compiler gives (`… and userName pr` is the same filter, compiled to SQL)."""

from __future__ import annotations

import urllib.parse
from typing import Any

import pytest

GROUP = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Sales"}


def user(name: str) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "emails": [{"value": name, "type": "work", "primary": True}],
    }


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"startIndex": "1", "count": "100"},
        {"startIndex": "2"},
        {"count": "0"},
        {"attributes": "userName,groups"},
        {"excludedAttributes": "groups,emails"},
    ],
)
@pytest.mark.parametrize("asked", ["Bjensen@Example.com", "bjensen@example.com", "nobody@x"])
def test_the_lookup_answers_as_the_filter_compiler_does(
    scim: Any, params: dict[str, str], asked: str
) -> None:
    created = scim.post("/Users", user("bjensen@example.com")).json
    scim.post("/Users", user("other@example.com"))
    group = scim.post("/Groups", {**GROUP, "members": [{"value": created["id"]}]}).json
    assert group["members"][0]["value"] == created["id"]

    def listed(flt: str) -> Any:
        query = urllib.parse.urlencode({"filter": flt, **params})
        response = scim.get(f"/Users?{query}")
        assert response.status_code == 200, response.json
        return response.json

    fast = listed(f'userName eq "{asked}"')
    general = listed(f'userName eq "{asked}" and userName pr')
    assert fast == general
    if asked != "nobody@x":
        assert fast["totalResults"] == 1
