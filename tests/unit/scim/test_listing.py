"""Which list requests are the IdPs' existence check, answered by one unique-index lookup."""

from __future__ import annotations

import pytest

from scim_bridge.scim.listing import equality_lookup, parse_list_query
from scim_bridge.scim.schema import CORE_USER

LIMITS = {"default_count": 100, "max_results": 1000}


def lookup(**params: str) -> str | None:
    return equality_lookup(parse_list_query(params, **LIMITS), "userName", CORE_USER)


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ('userName eq "Bjensen@Example.com"', "Bjensen@Example.com"),
        ('USERNAME eq "x"', "x"),
        (f'{CORE_USER}:userName eq "x"', "x"),
        ('username EQ "x"', "x"),
    ],
)
def test_username_eq_is_an_existence_check(flt: str, expected: str) -> None:
    assert lookup(filter=flt, startIndex="1", count="100") == expected


@pytest.mark.parametrize(
    "flt",
    [
        'userName ne "x"',
        'userName co "x"',
        'userName eq "x" or userName eq "y"',
        'userName eq "x" and active eq true',
        'displayName eq "x"',
        "userName pr",
        'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:userName eq "x"',
        'emails[value eq "x"]',
        "userName eq 5",
    ],
)
def test_anything_else_goes_through_the_filter_compiler(flt: str) -> None:
    assert lookup(filter=flt) is None


def test_a_sorted_request_goes_through_the_filter_compiler() -> None:
    assert lookup(filter='userName eq "x"', sortBy="userName") is None
    assert lookup() is None
