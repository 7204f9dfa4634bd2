"""Page hints (keyset paging for sequential startIndex pages) stay small, expire and are swept.

Before issue 9 the hints kept each filter's whole text in their keys: 20 distinct 1 MB filters
held 22 MB until the same keys were read again.
"""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime

from scim_bridge.directory.paging import PageHints, page_key

AFTER = (datetime(2026, 1, 1, tzinfo=UTC), "6d4f1f1e-0000-4000-8000-000000000000")


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_page_key_holds_a_digest_of_the_filter_not_its_text() -> None:
    text = 'displayName co "' + "x" * 1_000_000 + '"'
    key = page_key("User", "idp", text, 101)
    assert len(repr(key)) < 120
    assert key == page_key("User", "idp", text, 101)
    assert key != page_key("User", "idp", text + " ", 101)
    assert key != page_key("Group", "idp", text, 101)
    assert key != page_key("User", "idp", text, 201)
    assert page_key("User", "idp", None, 101) != page_key("User", "idp", "", 101)
    # One IdP's hint never steers another's page (docs/security.md).
    assert key != page_key("User", "other-idp", text, 101)
    assert key != page_key("User", None, text, 101)


def test_distinct_megabyte_filters_hold_almost_no_memory() -> None:
    hints = PageHints()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(20):
            text = f'title co "{i}' + "x" * 1_000_000 + '"'
            hints.put(page_key("User", "idp", text, 101), AFTER)
            del text
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(hints) == 20
    assert held < 64 * 1024, held


def test_expired_hints_are_swept_without_being_read_again() -> None:
    clock = Clock()
    hints = PageHints(ttl=120.0, clock=clock)
    for i in range(100):
        hints.put(page_key("User", "idp", f"f{i}", 101), AFTER)
    clock.now += 121
    hints.put(page_key("User", "idp", "fresh", 101), AFTER)
    assert len(hints) == 1
    assert hints.get(page_key("User", "idp", "f0", 101)) is None
    assert hints.get(page_key("User", "idp", "fresh", 101)) == AFTER


def test_a_hint_is_served_until_it_expires() -> None:
    clock = Clock()
    hints = PageHints(ttl=120.0, clock=clock)
    key = page_key("Group", "idp", 'displayName sw "a"', 201)
    hints.put(key, AFTER)
    clock.now += 120
    assert hints.get(key) == AFTER
    clock.now += 1
    assert hints.get(key) is None
    assert len(hints) == 0


def test_hints_are_bounded_and_forget_the_oldest_first() -> None:
    hints = PageHints(size=10)
    keys = [page_key("User", "idp", f"f{i}", 101) for i in range(25)]
    for key in keys:
        hints.put(key, AFTER)
    assert len(hints) == 10
    assert hints.get(keys[14]) is None
    assert all(hints.get(key) == AFTER for key in keys[15:])


def test_clear_forgets_every_hint() -> None:
    hints = PageHints()
    hints.put(page_key("User", "idp", None, 101), AFTER)
    hints.clear()
    assert len(hints) == 0
