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
nothing, re-projections) stops crowding the API.

Leavers (the outbox's first lane: deprovisioning is a security event) take a turn of their
own, so a leaver never waits behind an onboarding's naps, at most one bound. They used to skip
the wait altogether; then a burst of deactivations (the IdP's PATCH active=false, thousands
of them while the API was busy answering them) had the translator work through every one at
once: 0.23 of the two cores during the benchmark's PATCH phase, against 0.15 for creations,
most of it people not yet in DingTalk, or held by the mass-change guard, neither needing
DingTalk. Paced like the rest, leavers still start 20 a second while the API is busy (the
quota every removal needs anyway), and without any wait the moment it is idle.
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
    #: Leavers wait in a turn of their own: never behind the other lanes' naps.
    _leavers_turn: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def before_change(self, lane: int = Lane.BULK) -> float:
        """Wait while the API is busy, at most ``most`` seconds in turn with the translator's
        other threads of the same kind (leavers, or the rest); return the seconds napped."""
        if self.most <= 0 or not self.busy():
            return 0.0
        with self._leavers_turn if lane == Lane.DEPROVISION else self._turn:
            napped = 0.0
            while napped < self.most and self.busy():
                nap = min(self.step, self.most - napped)
                self.sleep(nap)
                napped += nap
            return napped
