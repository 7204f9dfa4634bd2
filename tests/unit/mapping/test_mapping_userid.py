"""Deriving DingTalk userids: lossless, deterministic, and one per SCIM user (issue 9)."""

from __future__ import annotations

import pytest

from scim_bridge.mapping import InMemoryDirectory, parse_rules, project_user
from scim_bridge.mapping.attributes import (
    USERID_MAX,
    free_userid,
    sanitize_userid,
    userid_choices,
)

RULES = parse_rules(
    """\
version: 1
users:
  userid: {from: [externalId, id]}
  fields:
    name: displayName
    mobile: phoneNumbers.value
"""
)


def derived(external_id: str | None, scim_id: str = "2819c223-7f76-453a-919d-413861904646") -> str:
    user = {"id": scim_id, "userName": "x@example.com", "displayName": "X", "active": True}
    if external_id is not None:
        user["externalId"] = external_id
    return project_user(user, RULES, InMemoryDirectory([user], [])).userid


def test_a_valid_userid_is_kept_exactly() -> None:
    assert derived("jdoe_1") == "jdoe_1"
    assert derived("00uAb_9.x@y-z") == "00uAb_9.x@y-z"
    assert derived(None) == "2819c223-7f76-453a-919d-413861904646"
    assert derived("a" * USERID_MAX) == "a" * USERID_MAX


def test_jdoe_space_1_and_jdoe_1_never_derive_the_same_userid() -> None:
    assert derived("jdoe 1") == "jdoe_1_825c02c9"
    assert derived("jdoe_1") == "jdoe_1"
    assert derived("jdoe/1") == "jdoe_1_d71d76d7"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("jdoe 1", "jdoe_1"),
        ("jdoe 1", "jdoe/1"),
        (" jdoe", "jdoe"),
        ("jdoe ", "jdoe  "),
        ("张三", "李四"),
        ("a" * 70, "a" * 69 + "b"),
    ],
)
def test_texts_that_clean_alike_derive_different_userids(a: str, b: str) -> None:
    assert sanitize_userid(a) != sanitize_userid(b)


@pytest.mark.parametrize("raw", ["jdoe 1", "张三", " x ", "a" * 200, "a/" * 40, "\ud800x", "   "])
def test_a_changed_userid_is_valid_deterministic_and_within_dingtalks_limit(raw: str) -> None:
    out = sanitize_userid(raw)
    assert out == sanitize_userid(raw)
    assert 1 <= len(out) <= USERID_MAX
    assert sanitize_userid(out) == out  # already valid: kept as it is


def test_a_held_userid_gives_way_to_one_of_the_users_own() -> None:
    mine, theirs = "2819c223-0000-0000-0000-000000000001", "2819c223-0000-0000-0000-000000000002"
    assert userid_choices("jdoe", mine) == ("jdoe", "jdoe_63126017")
    assert userid_choices("jdoe", theirs)[1] != userid_choices("jdoe", mine)[1]
    assert free_userid("jdoe", mine, taken=set()) == "jdoe"
    assert free_userid("jdoe", mine, taken={"jdoe"}) == "jdoe_63126017"
    assert free_userid("jdoe", mine, taken={"jdoe", "jdoe_63126017"}) is None


def test_a_held_long_userid_gives_way_within_dingtalks_limit() -> None:
    long = sanitize_userid("a" * 80)
    own = userid_choices(long, "some-scim-id")[1]
    assert len(own) == USERID_MAX and own != long
