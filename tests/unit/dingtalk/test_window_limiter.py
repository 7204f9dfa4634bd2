"""The client's limiter against DingTalk's one-second windows (dingtalk-api.md §8, issue 14).

Pure: a fake clock whose sleep moves it, no sockets. Each test counts calls per window, which
the fake clock makes exact; nothing here measures real time.
"""

from __future__ import annotations

import math
import threading
from collections import Counter

from scim_bridge.dingtalk.ratelimit import RateLimiter

KEY = "/topapi/v2/user/create"


class Clock:
    """Wall-clock seconds that move only when slept (thread-safe)."""

    def __init__(self, start: float) -> None:
        self.now = start
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def grants(limiter: RateLimiter, clock: Clock, count: int) -> list[float]:
    """The times ``count`` back-to-back callers were let go."""
    out = []
    for _ in range(count):
        limiter.acquire(KEY)
        out.append(clock())
    return out


def worst_window(times: list[float], delay: float) -> int:
    """The most calls one second holds if every call is counted ``delay`` s after it left."""
    return max(Counter(math.floor(t + delay) for t in times).values())


def test_no_window_gets_more_than_the_quota_even_when_calls_arrive_late_or_early():
    # Even pacing at exactly 1/qps fills each window with exactly qps calls as sent, so one
    # late arrival makes 21 in the next window. Here every delay the limiter was built for
    # (clock offset 0.1 s early .. latency 0.3 s late) still leaves at most 20 in any second.
    for start in (1_900_000_000.0, 1_900_000_000.03, 1_900_000_000.97):
        clock = Clock(start)
        limiter = RateLimiter(20, clock=clock, sleep=clock.sleep)
        times = grants(limiter, clock, 400)
        for delay in (-0.1, -0.05, 0.0, 0.01, 0.05, 0.1, 0.2, 0.29):
            assert worst_window(times, delay) <= 20, (start, delay)


def test_the_quota_is_used_in_full_under_load():
    clock = Clock(1_900_000_000.5)
    limiter = RateLimiter(20, clock=clock, sleep=clock.sleep)
    times = grants(limiter, clock, 400)
    # 400 calls at 20 per second: 20 windows, the first one partly used already.
    assert math.floor(times[-1]) - math.floor(times[0]) <= 20


def test_a_lone_call_does_not_wait():
    clock = Clock(1_900_000_000.95)  # close to a window's edge: both windows have room
    limiter = RateLimiter(20, clock=clock, sleep=clock.sleep)
    assert limiter.acquire(KEY) == 0.0
    clock.sleep(5)
    assert limiter.acquire(KEY) == 0.0


def test_each_api_has_its_own_quota():
    clock = Clock(1_900_000_000.0)
    limiter = RateLimiter(20, clock=clock, sleep=clock.sleep)
    grants(limiter, clock, 20)  # the create API's window is full
    assert limiter.acquire("/topapi/v2/user/delete") == 0.0


def test_slow_down_lowers_the_calls_per_window():
    clock = Clock(1_900_000_000.0)
    limiter = RateLimiter(20, clock=clock, sleep=clock.sleep)
    limiter.slow_down(KEY)
    assert limiter.rate(KEY) == 15
    times = grants(limiter, clock, 30)
    per_second = Counter(math.floor(t) for t in times)
    # 15 or 16: the rate recovers, 0.1 of it per second, from the moment it was lowered.
    assert per_second[1_900_000_000] in (15, 16)
    assert limiter.rate(KEY) < 20


def test_an_urgent_caller_takes_the_next_slot_before_a_waiting_bulk_caller():
    clock = Clock(1_900_000_000.0)
    bulk_asleep = threading.Event()
    urgent_done = threading.Event()

    def sleep(seconds: float) -> None:
        if threading.current_thread().name == "bulk" and not bulk_asleep.is_set():
            bulk_asleep.set()  # the bulk caller holds the head of the queue, asleep
            assert urgent_done.wait(10)
        clock.sleep(seconds)

    limiter = RateLimiter(20, clock=clock, sleep=sleep)
    for _ in range(20):
        limiter.acquire(KEY)  # this second is full: the next call must wait
    order: list[tuple[str, float]] = []

    def call(name: str, urgent: bool) -> None:
        limiter.acquire(KEY, urgent=urgent)
        order.append((name, clock()))
        if urgent:
            urgent_done.set()

    bulk = threading.Thread(target=call, args=("bulk", False), name="bulk")
    bulk.start()
    assert bulk_asleep.wait(10)
    urgent = threading.Thread(target=call, args=("urgent", True), name="urgent")
    urgent.start()
    urgent.join(10)
    bulk.join(10)
    assert [name for name, _ in order] == ["urgent", "bulk"]
    assert order[0][1] < order[1][1]  # the bulk caller re-planned after the urgent one
