"""Client-side rate limiting per (app, API) and the IP-ban circuit breaker.

DingTalk counts requests per app per API in fixed one-second windows (dingtalk-api.md §8: 20 QPS
on the standard edition) and recommends "a counter keyed by the current second". Pacing calls
evenly at exactly ``1/qps`` (what this module did before issue 14) gives every window exactly
``qps`` calls *as sent*; but DingTalk counts them as they *arrive*, after network latency and
scheduling jitter, so whenever one call of window k arrives a few milliseconds late it lands in
window k+1, which already holds its own ``qps`` calls: the 21st is throttled. That is where the
58-78 throttled answers of a 10,000-person onboarding came from (docs/benchmarks.md), and each
cost ≥1 s of sleep plus a slowed limiter.

So the limiter counts calls per wall-clock second, as DingTalk does, and charges each call to
every window its arrival could fall into: ``[sent - early, sent + late]`` (clock offset before,
latency and jitter after). A call may go only when each of those windows has room. A lone call
goes at once; under load the calls fill the middle of each second, ``qps`` of them, so the
quota is used in full and a call that arrives up to ``late`` seconds after it left still lands
in the window it was counted in. Calls are spread over that middle part, not sent in a burst.

Urgent calls (a leaver's removal, issue 14) jump the queue of their API: the next free slot is
theirs, so bulk work never holds every permit. When DingTalk throttles anyway, ``slow_down``
lowers that API's rate for a while and it recovers gradually; the calling thread does the ≥1 s
sleep itself.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from scim_bridge.errors import IpBanned

Clock = Callable[[], float]
Sleep = Callable[[float], None]

#: A ticket in an API's queue: (0 urgent / 1 normal, arrival order).
_Ticket = tuple[int, int]


@dataclass
class _Pace:
    factor: float = 1.0  # share of the configured rate in force (< 1 after throttling)
    slowed_at: float = 0.0
    last_at: float = -math.inf  # when the latest call was let go
    charged: dict[int, int] = field(default_factory=dict)  # window (second) -> calls counted
    queue: list[_Ticket] = field(default_factory=list)  # callers waiting, most urgent first


class RateLimiter:
    """A thread-safe limiter with DingTalk's one-second windows, one schedule per API key.

    ``clock`` must tell wall-clock seconds (DingTalk's windows are wall-clock seconds);
    ``early`` and ``late`` bound how far a call's counting time may be from its sending time.
    """

    def __init__(
        self,
        qps: float,
        *,
        clock: Clock,
        sleep: Sleep,
        slow_factor: float = 0.75,
        min_factor: float = 0.25,
        recovery_per_s: float = 0.1,
        early: float = 0.1,
        late: float = 0.3,
    ) -> None:
        if qps <= 0:
            raise ValueError("qps must be greater than 0")
        if early < 0 or late < 0 or early + late >= 1.0:
            raise ValueError("early and late must be >= 0 and leave part of each second free")
        self.qps = float(qps)
        self._clock = clock
        self._sleep = sleep
        self._slow_factor = slow_factor
        self._min_factor = min_factor
        self._recovery_per_s = recovery_per_s
        self._early = early
        self._late = late
        self._lock = threading.Lock()
        self._turn = threading.Condition(self._lock)
        self._arrivals = itertools.count()
        self._paces: dict[str, _Pace] = {}

    def acquire(self, key: str, *, urgent: bool = False) -> float:
        """Wait until a call on ``key`` may start; return the seconds waited.

        Only the head of the key's queue (urgent callers first, then in arrival order) may take
        a slot; it sleeps outside the lock, so an urgent caller arriving meanwhile takes the
        next slot instead and the sleeper queues again behind it.
        """
        waited, planned = 0.0, -math.inf
        with self._turn:
            pace = self._paces.setdefault(key, _Pace())
            ticket: _Ticket = (0 if urgent else 1, next(self._arrivals))
            pace.queue.append(ticket)
            pace.queue.sort()
            try:
                while True:
                    while pace.queue[0] != ticket:
                        self._turn.wait()
                    now = self._clock()
                    at = self._next_slot(pace, now)
                    if at <= now or at <= planned:
                        # Due, or the slot we slept for is still ours (a clock that did not
                        # move in a test): take it. Overtaken meanwhile: sleep again.
                        self._charge(pace, max(at, now))
                        return waited
                    planned = at
                    self._lock.release()
                    try:
                        self._sleep(at - now)
                    finally:
                        self._lock.acquire()
                    waited += at - now
            finally:
                pace.queue.remove(ticket)
                self._turn.notify_all()

    def slow_down(self, key: str) -> None:
        """Lower the rate of ``key`` after DingTalk throttled it (dingtalk-api.md §12.3)."""
        with self._lock:
            now = self._clock()
            pace = self._paces.setdefault(key, _Pace())
            factor = self._current_factor(pace, now)
            pace.factor = max(self._min_factor, factor * self._slow_factor)
            pace.slowed_at = now

    def rate(self, key: str) -> float:
        """Return the requests per second currently allowed on ``key``."""
        with self._lock:
            pace = self._paces.get(key)
            if pace is None:
                return self.qps
            return self.qps * self._current_factor(pace, self._clock())

    # --- the schedule (under the lock) --------------------------------------------------------

    def _limits(self, pace: _Pace, now: float) -> tuple[int, float]:
        """Calls allowed per window and the least gap between two calls, at the rate in force."""
        rate = self.qps * self._current_factor(pace, now)
        per_window = max(1, math.floor(rate))
        # Spread the window's calls over its middle part; below 1 QPS, one call per 1/rate s.
        gap = (1.0 - self._early - self._late) / per_window
        return per_window, (max(gap, 1.0 / rate) if rate < 1.0 else gap)

    def _next_slot(self, pace: _Pace, now: float) -> float:
        """The earliest time >= now at which every window the call may be counted in has room."""
        per_window, gap = self._limits(pace, now)
        at = max(now, pace.last_at + gap)
        while True:
            first, last = math.floor(at - self._early), math.floor(at + self._late)
            full = [w for w in range(first, last + 1) if pace.charged.get(w, 0) >= per_window]
            if not full:
                return at
            # Move on until the call can no longer be counted in the latest full window.
            at = max(at, full[-1] + 1 + self._early)

    def _charge(self, pace: _Pace, at: float) -> None:
        first, last = math.floor(at - self._early), math.floor(at + self._late)
        for window in range(first, last + 1):
            pace.charged[window] = pace.charged.get(window, 0) + 1
        pace.last_at = at
        for window in [w for w in pace.charged if w < first - 1]:
            del pace.charged[window]  # only the last few seconds matter

    def _current_factor(self, pace: _Pace, now: float) -> float:
        if pace.factor >= 1.0:
            return 1.0
        # Recover linearly once throttling stops; the stored factor is the one at slowed_at.
        recovered = pace.factor + self._recovery_per_s * max(0.0, now - pace.slowed_at)
        if recovered >= 1.0:
            pace.factor = 1.0
            return 1.0
        return recovered


class CircuitBreaker:
    """Refuses every call while the egress IP is banned (dingtalk-api.md §8: 5 minutes)."""

    def __init__(self, *, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._open_until = 0.0

    def trip(self, seconds: float) -> None:
        """Open the breaker for ``seconds`` from now."""
        with self._lock:
            self._open_until = max(self._open_until, self._clock() + seconds)

    def remaining(self) -> float:
        """Return the seconds until calls are allowed again (0 when closed)."""
        with self._lock:
            return max(0.0, self._open_until - self._clock())

    def check(self, api: str) -> None:
        """Raise IpBanned with ``retry_after`` while the breaker is open."""
        left = self.remaining()
        if left > 0:
            raise IpBanned(
                "punish",
                f"IP ban in force, calls refused for another {left:.0f} s",
                api=api,
                retry_after=left,
            )
