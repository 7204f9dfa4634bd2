"""The embedded translator gives way to the API it shares a process and two cores with.

Issue 14: with the translator on a thread of an API process, every change it projects costs
CPU (and the GIL) the SCIM requests of that process were waiting for. Two measures:

- its threads run at a lower priority (a Linux nice value per thread: ``setpriority`` with a
  thread id affects that thread only, see setpriority(2), "Linux notes"); the kernel then runs
  the request threads of every API process first when the cores are short;
- before each change, while requests are being answered in this process, it naps in short
  steps, up to a bound per change: a busy API delays a change by at most ``most`` seconds,
  an idle one not at all, so the ~0.1 s sync lag of a quiet bridge stays.

The GIL still matters: a niced thread holding it holds up the request threads of its own
process, which is why the naps come before the work, with nothing held.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("scim_bridge.sync")


def lower_thread_priority(nice: int) -> bool:
    """Give the calling thread (not the process) at least ``nice``; return whether it could."""
    if nice <= 0 or not sys.platform.startswith("linux"):
        return False
    tid = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, tid)
        if current < nice:
            os.setpriority(os.PRIO_PROCESS, tid, nice)  # raising nice needs no privilege
    except OSError as exc:  # a sandbox forbidding it: run at normal priority
        log.warning("could not lower the translator's priority: %s", exc)
        return False
    return True


@dataclass
class Courtesy:
    """Decides how long the translator waits before a change: never while the API is idle."""

    #: Whether this process is answering requests now (monitor/api_load.InFlight.busy).
    busy: Callable[[], bool]
    #: The longest wait per change, in seconds (settings.translator_yield_ms / 1000).
    most: float = 0.05
    #: One nap; the API is asked again after each.
    step: float = 0.005
    #: The nice value of the translator's threads (0: leave them alone).
    nice: int = 10
    sleep: Callable[[float], None] = time.sleep
    _niced: threading.local = field(default_factory=threading.local)

    def before_change(self) -> float:
        """Wait while the API is busy, at most ``most`` seconds; return the seconds napped."""
        if not getattr(self._niced, "done", False):
            self._niced.done = True
            lower_thread_priority(self.nice)
        napped = 0.0
        while napped < self.most and self.busy():
            nap = min(self.step, self.most - napped)
            self.sleep(nap)
            napped += nap
        return napped
