"""The translator gives way to the API it shares two cores with (issue 14).

`serve` runs the translator in a process of its own at a lower priority (cli/translator_child.py),
so the kernel runs the API processes first. On top of that, before each change, while any API
process is answering requests, it naps in short steps, up to a bound: a busy API delays a change
by at most ``most`` seconds, an idle one not at all, so the ~0.1 s sync lag of a quiet bridge
stays.

The translator's threads take that wait one after another, not side by side: sixteen threads
each napping 50 ms still started 320 changes a second, so under a busy API the whole translator
now starts at most one change per bound (20 a second at 50 ms, DingTalk's own quota). Work
DingTalk paces anyway loses nothing; work it does not pace (dead letters, changes that change
nothing, re-projections) stops crowding the API. A leaver never waits: deprovisioning is a
security event (the outbox's first lane).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from scim_bridge.directory.outbox import Lane


@dataclass
class Courtesy:
    """Decides how long the translator waits before a change: never while the API is idle."""

    #: Whether the API is answering requests now (monitor/api_load.InFlight.busy).
    busy: Callable[[], bool]
    #: The longest wait per change, in seconds (settings.translator_yield_ms / 1000).
    most: float = 0.05
    #: One nap; the API is asked again after each.
    step: float = 0.005
    sleep: Callable[[float], None] = time.sleep
    #: One thread at a time waits its turn while the API is busy.
    _turn: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def before_change(self, lane: int = Lane.BULK) -> float:
        """Wait while the API is busy, at most ``most`` seconds in turn with the translator's
        other threads (a leaver: not at all); return the seconds this thread napped."""
        if lane == Lane.DEPROVISION or self.most <= 0 or not self.busy():
            return 0.0
        with self._turn:
            napped = 0.0
            while napped < self.most and self.busy():
                nap = min(self.step, self.most - napped)
                self.sleep(nap)
                napped += nap
            return napped
