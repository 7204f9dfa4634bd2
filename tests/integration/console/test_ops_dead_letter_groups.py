"""Dead letters grouped by cause (monitor/dead_letter_groups.py), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from console_support import T0
from ops_support import add_letter, bad_mobile_words

from scim_bridge.directory.db import Database
from scim_bridge.monitor.dead_letter_groups import (
    dead_letter_groups,
    find_group,
    group_key,
    group_letters,
    letter_ids,
)


def test_letters_with_the_same_code_and_reason_form_one_group(database: Database) -> None:
    words = bad_mobile_words()
    for i in range(3):
        add_letter(database, f"m{i}", code="60103", reason=words, at=T0 + timedelta(minutes=i))
    add_letter(database, "e1", code="60106", reason="the e-mail address belongs to another")
    # Same words, another code: another cause (and the same code with other words too).
    add_letter(database, "x1", code="60104", reason=words)
    add_letter(database, "x2", code="60103", reason="something else entirely")
    with database.read() as session:
        groups = dead_letter_groups(session)
    assert (groups[0].code, groups[0].count) == ("60103", 3)
    assert sorted((g.code, g.count) for g in groups[1:]) == [
        ("60103", 1),
        ("60104", 1),
        ("60106", 1),
    ]
    mobile = groups[0]
    assert mobile.key == group_key("60103", words)
    assert (mobile.oldest, mobile.newest) == (T0, T0 + timedelta(minutes=2))
    # The plain words come apart from the advice table, not re-worded here.
    assert mobile.headline == "DingTalk does not accept the mobile number"
    assert mobile.fix is not None and mobile.fix.startswith("give the user a valid mobile")
    assert set(mobile.samples) <= {"m0", "m1", "m2"} and mobile.samples
    other = next(g for g in groups if g.reason == "something else entirely")
    assert other.headline == "something else entirely" and other.fix is None


def test_a_group_resolves_to_its_letters_and_pages_them(database: Database) -> None:
    words = bad_mobile_words()
    ids = [
        add_letter(database, f"m{i:03d}", code="60103", reason=words, at=T0 + timedelta(seconds=i))
        for i in range(120)
    ]
    add_letter(database, "other", code="60106", reason="taken")
    with database.read() as session:
        group = find_group(session, group_key("60103", words))
        assert group is not None and group.count == 120
        assert sorted(letter_ids(session, group)) == sorted(ids)
        first = group_letters(session, group, page=1)
        third = group_letters(session, group, page=3)
        assert find_group(session, "0000000000000000") is None
    assert [r.resource_id for r in first][:2] == ["m000", "m001"] and len(first) == 50
    assert [r.resource_id for r in third] == [f"m{i:03d}" for i in range(100, 120)]


def test_letters_without_a_code_group_by_their_words(database: Database) -> None:
    add_letter(database, "a", code=None, reason="scim-bridge failed internally")
    add_letter(database, "b", code=None, reason="scim-bridge failed internally")
    with database.read() as session:
        (group,) = dead_letter_groups(session)
        assert group.count == 2 and group.code == ""
        assert len(letter_ids(session, group)) == 2


def test_a_key_is_url_safe_whatever_the_code(database: Database) -> None:
    add_letter(database, "t1", code="88/40000", reason="blank token")
    add_letter(database, "t2", code="88/40000", reason="blank token, other words")
    key = group_key("88/40000", "blank token")
    assert "/" not in key and key.isascii()
    with database.read() as session:
        group = find_group(session, key)
        assert group is not None and (group.code, group.count) == ("88/40000", 1)
        assert find_group(session, "zz-0123456789abcdef") is None  # not hex: not ours
        assert find_group(session, key[:-1]) is None
