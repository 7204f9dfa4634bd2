"""Which list requests are the IdPs' existence check, answered by one unique-index lookup."""

from __future__ import annotations

import pytest

from scim_bridge.errors import InvalidFilter, InvalidValue
from scim_bridge.scim.listing import MAX_START_INDEX, equality_lookup, parse_list_query
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


# --- paging numbers and filter length (RFC 7644 §3.4.2.4; issue 9) -----------------------------


@pytest.mark.parametrize(
    ("raw", "start"),
    [
        ("0", 1),
        ("-7", 1),
        ("101", 101),
        (str(10**30), MAX_START_INDEX),
        (1e30, MAX_START_INDEX),
        (101.0, 101),
        (2**64, MAX_START_INDEX),
    ],
)
def test_start_index_is_clamped_between_one_and_what_a_database_holds(
    raw: object, start: int
) -> None:
    assert parse_list_query({"startIndex": raw}, **LIMITS).start_index == start


@pytest.mark.parametrize(
    ("raw", "count"), [("-1", 0), ("0", 0), ("50", 50), (str(10**30), 1000), (1e30, 1000)]
)
def test_count_is_clamped_between_zero_and_max_results(raw: object, count: int) -> None:
    assert parse_list_query({"count": raw}, **LIMITS).count == count


@pytest.mark.parametrize(
    "raw", [float("inf"), float("-inf"), float("nan"), 2.5, True, "1e3", "x", [1], "9" * 5000]
)
@pytest.mark.parametrize("name", ["startIndex", "count"])
def test_paging_numbers_that_are_not_integers_are_invalid_value(raw: object, name: str) -> None:
    with pytest.raises(InvalidValue, match=name):
        parse_list_query({name: raw}, **LIMITS)


def test_a_filter_longer_than_the_cap_is_invalid_filter() -> None:
    text = 'userName eq "' + "x" * 50 + '"'
    assert parse_list_query({"filter": text}, **LIMITS, max_filter_chars=len(text)).filter
    with pytest.raises(InvalidFilter, match="at most 63 characters"):
        parse_list_query({"filter": text}, **LIMITS, max_filter_chars=len(text) - 1)
