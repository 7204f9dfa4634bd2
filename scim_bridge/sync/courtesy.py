"""The translator gives way to the API it shares two cores with (issue 14).

`serve` runs the translator in a process of its own at a lower priority (cli/translator_child.py),
so the kernel runs the API processes first. On top of that, before each change, while any API
process is answering requests, it naps in short steps, up to a bound per change: a busy API
delays a change by at most ``most`` seconds, an idle one not at all, so the ~0.1 s sync lag of
a quiet bridge stays.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


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

    def before_change(self) -> float:
        """Wait while the API is busy, at most ``most`` seconds; return the seconds napped."""
        napped = 0.0
        while napped < self.most and self.busy():
            nap = min(self.step, self.most - napped)
            self.sleep(nap)
            napped += nap
        return napped
