"""Deep paging: where page N+1 starts, so sequential startIndex pages are keyset, not OFFSET.

IdPs page with startIndex=1, 101, 201 …; OFFSET makes page k cost O(k). After serving a page,
``list_page`` notes the last row's (created, id) under the key of the next page; the next
request seeks straight there. A miss falls back to OFFSET, so hints are only an optimisation:
they are small (a key holds a digest of the filter, never its text), expire, and are bounded.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, literal, tuple_

#: (resource type, digest of the filter text or None, startIndex)
PageKey = tuple[str, str | None, bytes | None, int]
#: The (created, id) of the last row of the previous page.
After = tuple[datetime, str]


def page_key(
    resource_type: str, scope: str | None, filter_text: str | None, start_index: int
) -> PageKey:
    """Return the key of a page; the filter is kept as a 16-byte digest, not its text.

    Each IdP pages through its own rows: a hint is good only for the scope that made it."""
    digest = None
    if filter_text is not None:
        raw = filter_text.encode("utf-8", "surrogatepass")
        digest = hashlib.blake2b(raw, digest_size=16).digest()
    return resource_type, scope, digest, start_index


class PageHints:
    """A bounded, expiring map from page keys to where those pages start.

    Entries are kept in the order they were written, which is also the order they expire in:
    each write sweeps the expired ones from the old end, so a hint nobody reads again does not
    outlive ``ttl`` by more than the next write.
    """

    def __init__(
        self, *, size: int = 1024, ttl: float = 120.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._items: OrderedDict[PageKey, tuple[float, After]] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size
        self._ttl = ttl
        self._clock = clock

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def get(self, key: PageKey) -> After | None:
        """Return the (created, id) the page at this key starts after, if known and fresh."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            stamp, after = item
            if self._clock() - stamp > self._ttl:
                del self._items[key]
                return None
            return after

    def put(self, key: PageKey, after: After) -> None:
        """Record that the page at this key starts after (created, id)."""
        with self._lock:
            now = self._clock()
            self._items[key] = (now, after)
            self._items.move_to_end(key)
            self._sweep(now)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def _sweep(self, now: float) -> None:
        """Drop expired hints from the oldest end (amortised O(1) per write)."""
        while self._items:
            stamp, _after = next(iter(self._items.values()))
            if now - stamp <= self._ttl:
                return
            self._items.popitem(last=False)

    def clear(self) -> None:
        """Forget every hint."""
        with self._lock:
            self._items.clear()


def keyset_after(model: Any, after: After) -> ColumnElement[bool]:
    """Return the WHERE clause for rows after (created, id) in the default order."""
    return tuple_(model.created, model.id) > tuple_(literal(after[0]), literal(after[1]))
