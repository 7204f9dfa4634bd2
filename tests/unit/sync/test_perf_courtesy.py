"""The embedded translator gives way to a busy API, never to an idle one (issue 14).

Deterministic: the API's load is a counter the test moves, and the sleep is recorded, never
slept; no clock is read.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from scim_bridge.monitor.api_load import InFlight
from scim_bridge.sync.courtesy import Courtesy


class Naps:
    """A sleep that records each nap and can run a step of the test after each."""

    def __init__(self, after: Callable[[int], None] | None = None) -> None:
        self.taken: list[float] = []
        self._after = after

    def __call__(self, seconds: float) -> None:
        self.taken.append(seconds)
        if self._after is not None:
            self._after(len(self.taken))


def test_idle_api_means_no_wait_so_the_lag_stays() -> None:
    load = InFlight()
    naps = Naps()
    courtesy = Courtesy(busy=load.busy, most=0.05, step=0.005, sleep=naps)

    assert courtesy.before_change() == 0.0
    assert naps.taken == []


def test_busy_api_waits_until_the_requests_are_answered() -> None:
    load = InFlight()
    load.enter()
    load.enter()

    def requests_finish(naps_so_far: int) -> None:
        if naps_so_far == 3:  # both requests answered during the third nap
            load.leave()
            load.leave()

    naps = Naps(after=requests_finish)
    courtesy = Courtesy(busy=load.busy, most=0.05, step=0.005, sleep=naps)

    waited = courtesy.before_change()

    assert naps.taken == [0.005, 0.005, 0.005]
    assert abs(waited - 0.015) < 1e-9


def test_a_change_never_waits_longer_than_the_bound_under_constant_load() -> None:
    load = InFlight()
    load.enter()  # a request that never ends: the translator must still make progress
    naps = Naps()
    courtesy = Courtesy(busy=load.busy, most=0.012, step=0.005, sleep=naps)

    waited = courtesy.before_change()

    assert naps.taken == [0.005, 0.005, 0.002]  # the last nap is cut to the bound
    assert abs(waited - 0.012) < 1e-9
    assert abs(courtesy.before_change() - 0.012) < 1e-9  # the next change is bounded too


def test_a_zero_bound_switches_the_waiting_off() -> None:
    load = InFlight()
    load.enter()
    naps = Naps()
    courtesy = Courtesy(busy=load.busy, most=0.0, sleep=naps)

    assert courtesy.before_change() == 0.0
    assert naps.taken == []


def test_in_flight_counts_requests_being_answered() -> None:
    load = InFlight()
    assert not load.busy()
    load.enter()
    load.enter()
    load.leave()
    assert load.busy()
    assert load.count == 1
    load.leave()
    assert not load.busy()


def test_courtesy_settings_out_of_range_are_refused_in_one_line_naming_the_fix() -> None:
    import pytest

    from scim_bridge.errors import ConfigError
    from scim_bridge.settings import load_settings

    with pytest.raises(ConfigError) as nice:
        load_settings(environ={"SCIM_BRIDGE_TRANSLATOR_NICE": "25"})
    with pytest.raises(ConfigError) as wait:
        load_settings(environ={"SCIM_BRIDGE_TRANSLATOR_YIELD_MS": "-1"})

    assert "translator_nice" in str(nice.value)
    assert "SCIM_BRIDGE_TRANSLATOR_NICE" in str(nice.value)
    assert "translator_yield_ms" in str(wait.value)
    assert "\n" not in str(nice.value) + str(wait.value)
    fine = load_settings(environ={"SCIM_BRIDGE_TRANSLATOR_YIELD_MS": "0"})
    assert (fine.translator_nice, fine.translator_yield_ms) == (10, 0.0)


def test_a_shared_count_sees_the_requests_of_every_forked_process() -> None:
    # `serve`'s translator runs in a process of its own: it must see the API workers' requests.
    import os

    from scim_bridge.monitor.api_load import SharedInFlight

    load = SharedInFlight()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # an API worker: two requests begin, one ends
        load.enter()
        load.enter()
        load.leave()
        os.write(write, b"x")
        os._exit(0)
    os.read(read, 1)
    os.waitpid(pid, 0)
    assert load.count == 1 and load.busy()
    load.leave()
    assert load.count == 0 and not load.busy()


def test_under_a_busy_api_the_threads_wait_their_turns_one_at_a_time() -> None:
    # Sixteen threads each napping side by side would still start sixteen changes per bound.
    import threading

    inside, most_inside = 0, 0
    count = threading.Lock()

    def nap(seconds: float) -> None:
        nonlocal inside, most_inside
        with count:
            inside += 1
            most_inside = max(most_inside, inside)
        time.sleep(0.001)  # give the other threads every chance to nap alongside
        with count:
            inside -= 1

    courtesy = Courtesy(busy=lambda: True, most=0.01, step=0.005, sleep=nap)
    waited: list[float] = []
    threads = [
        threading.Thread(target=lambda: waited.append(courtesy.before_change())) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)

    assert most_inside == 1
    assert waited == [0.01] * 4  # each still waits its full bound, then goes on


def test_a_leaver_never_waits_behind_the_other_lanes_turn_and_at_most_the_bound() -> None:
    import threading

    from scim_bridge.directory.outbox import Lane

    naps = Naps()
    courtesy = Courtesy(busy=lambda: True, most=0.012, step=0.005, sleep=naps)
    waited: list[float] = []
    with courtesy._turn:  # a creation is taking its turn right now, and does not end
        leaver = threading.Thread(
            target=lambda: waited.append(courtesy.before_change(Lane.DEPROVISION))
        )
        leaver.start()
        leaver.join(timeout=10)
        finished = not leaver.is_alive()

    assert finished
    assert abs(waited[0] - 0.012) < 1e-9  # its own bound, not the creation's
    assert naps.taken == [0.005, 0.005, 0.002]


def test_a_leaver_does_not_wait_while_the_api_is_idle() -> None:
    from scim_bridge.directory.outbox import Lane

    naps = Naps()
    courtesy = Courtesy(busy=InFlight().busy, most=0.05, sleep=naps)

    assert courtesy.before_change(Lane.DEPROVISION) == 0.0
    assert naps.taken == []
