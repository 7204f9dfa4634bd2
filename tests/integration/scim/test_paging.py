"""Sequential pages served through page hints (keyset) are the pages OFFSET gives."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"


@pytest.mark.parametrize("flt", [None, 'userName sw "u"', 'title co "%_"'])
def test_sequential_pages_through_hints_match_offset_pages(
    app: Any, scim: Any, flt: str | None
) -> None:
    for i in range(9):
        body = {"schemas": [USER_URN], "userName": f"u{i}", "title": "a%_b" if i % 2 else "ab"}
        assert scim.post("/Users", body).status_code == 201

    def page(start: int) -> list[str]:
        params: dict[str, Any] = {"startIndex": start, "count": 2, "attributes": "userName"}
        if flt:
            params["filter"] = flt
        response = scim.get(f"/Users?{urlencode(params)}")
        assert response.status_code == 200, response.json
        return [r["userName"] for r in response.json["Resources"]]

    cold = [page(start) for start in (7, 5, 3, 1)][::-1]  # no hint for any of these
    warm = [page(start) for start in (1, 3, 5, 7)]  # each page leaves the next one a hint
    assert warm == cold
    names = [n for p in warm for n in p]
    expected = [f"u{i}" for i in range(9) if flt != 'title co "%_"' or i % 2][:8]
    assert names == expected
