"""The client's pacing meets DingTalk's per-second quota without one throttled answer (issue 14).

The emulator counts calls per app and API in one-second windows (dingtalk-api.md §8), as the
real service does. One fake clock drives the emulator's windows and the client's limiter; a
session that moves that clock forward by a seeded, random network delay before each request
makes calls arrive later than they left, deterministically. Nothing here depends on real time:
the tests count answers.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from dingtalk_client_fixtures import FakeClock, emulator_client

from scim_bridge.dingtalk.client import DingTalkClient
from scim_bridge.dingtalk.emulator import EmulatorConfig, RunningEmulator, start_emulator

CREATE = "/topapi/v2/user/create"
QPS = 20


class DelayedSession(requests.Session):
    """Moves the shared clock by 0..``most`` s before each request: the call arrives late."""

    def __init__(self, clock: FakeClock, *, most: float, seed: int) -> None:
        super().__init__()
        self._clock = clock
        self._most = most
        self._rng = random.Random(seed)

    def request(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        self._clock.advance(self._rng.uniform(0.0, self._most))
        return super().request(*args, **kwargs)


@contextmanager
def paced(*, most_delay: float, seed: int) -> Iterator[tuple[RunningEmulator, DingTalkClient]]:
    """The emulator at 20 QPS per API and a client told the same quota, on one fake clock."""
    clock = FakeClock(start=1_900_000_000.37)  # windows do not start where the client does
    running = start_emulator(EmulatorConfig(qps=QPS, clock=clock))
    session = DelayedSession(clock, most=most_delay, seed=seed)
    client = emulator_client(
        running, qps=QPS, clock=clock, sleep=clock.sleep, session=session, throttle_retries=0
    )
    try:
        yield running, client
    finally:
        client.close()
        session.close()
        running.stop()


def fields(n: int) -> dict[str, Any]:
    return {
        "userid": f"pace-{n:04d}",
        "name": f"Pace {n}",
        "mobile": f"139{n:08d}",
        "dept_id_list": [1],
    }


def throttled_answers(running: RunningEmulator) -> int:
    return sum(
        1
        for call in running.emulator.calls()
        if call["path"] == CREATE and call["outcome"].get("sub_code") == "90018"
    )


def test_a_burst_of_creates_meets_no_throttled_answer_when_calls_arrive_late():
    # Calls arriving up to 60 ms after they left: with even pacing at exactly 1/qps, every
    # window holds 20 calls as sent and a late one makes 21 in the next window (throttled).
    with paced(most_delay=0.06, seed=7) as (running, client):
        clock = client._clock  # the shared fake clock
        start = clock()
        for n in range(150):
            client.create_user(fields(n))
        elapsed = clock() - start
        assert throttled_answers(running) == 0
        assert client.stats().throttled == 0
        assert len(running.emulator.users()) == 150
    # And the quota is used in full: 150 creates at 20 per second in about 7.5 s of the
    # emulator's time (the fake clock's, so this counts windows, not real seconds).
    assert elapsed <= 150 / QPS + 1.0


def test_a_leavers_removal_is_not_queued_behind_the_onboarding_quota():
    # The removal is another API with its own quota (dingtalk-api.md §8: per app, per API).
    with paced(most_delay=0.02, seed=3) as (running, client):
        for n in range(25):
            client.create_user(fields(n))  # the create API's window is full now
        with client.urgent():
            assert client.delete_user("pace-0000")
        assert "pace-0000" not in running.emulator.users()
        assert throttled_answers(running) == 0
