"""Client-side rate limiting per (app, API) and the IP-ban circuit breaker.

DingTalk counts requests per app per API in one-second windows (dingtalk-api.md §8): 20 QPS on the
standard edition. The limiter paces calls evenly (one every ``1/qps`` seconds, no bursts), so a
bridge that respects it almost never meets a throttling answer, whatever the server's window
looks like. When DingTalk throttles anyway, ``slow_down`` lowers that API's rate for a while and it
recovers gradually; the calling thread does the ≥1 s sleep itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from scim_bridge.errors import IpBanned

Clock = Callable[[], float]
Sleep = Callable[[float], None]


@dataclass
class _Pace:
    next_at: float = 0.0  # earliest time the next call may start
    factor: float = 1.0  # share of the configured rate in force (< 1 after throttling)
    slowed_at: float = 0.0


class RateLimiter:
    """A thread-safe pacing limiter with one schedule per key (an API path of one app)."""

    def __init__(
        self,
        qps: float,
        *,
        clock: Clock,
        sleep: Sleep,
        slow_factor: float = 0.75,
        min_factor: float = 0.25,
        recovery_per_s: float = 0.1,
    ) -> None:
        if qps <= 0:
            raise ValueError("qps must be greater than 0")
        self.qps = float(qps)
        self._clock = clock
        self._sleep = sleep
        self._slow_factor = slow_factor
        self._min_factor = min_factor
        self._recovery_per_s = recovery_per_s
        self._lock = threading.Lock()
        self._paces: dict[str, _Pace] = {}

    def acquire(self, key: str) -> float:
        """Wait until a call on ``key`` may start; return the seconds waited."""
        with self._lock:
            now = self._clock()
            pace = self._paces.setdefault(key, _Pace(next_at=now))
            factor = self._current_factor(pace, now)
            start = max(now, pace.next_at)
            # Reserve the slot before sleeping so concurrent callers queue behind it in order.
            pace.next_at = start + 1.0 / (self.qps * factor)
        wait = start - now
        if wait > 0:
            self._sleep(wait)
        return max(wait, 0.0)

    def slow_down(self, key: str) -> None:
        """Lower the rate of ``key`` after DingTalk throttled it (dingtalk-api.md §12.3)."""
        with self._lock:
            now = self._clock()
            pace = self._paces.setdefault(key, _Pace(next_at=now))
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
