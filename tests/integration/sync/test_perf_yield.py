"""The API counts the requests it is answering, and the embedded translator gives way to them
without ever stalling (issue 14). Counters and sleeps are injected: no timing is asserted."""

from __future__ import annotations

from typing import Any

from scim_bridge.dingtalk.emulator import RunningEmulator
from scim_bridge.http.runtime import Runtime
from scim_bridge.sync.courtesy import Courtesy
from scim_bridge.sync.worker import Worker


def person(name: str, mobile: str) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": f"{name}@example.com",
        "displayName": name.title(),
        "phoneNumbers": [{"value": mobile, "type": "mobile"}],
    }


def test_a_request_is_counted_while_it_is_answered_and_not_after(app: Any, scim: Any) -> None:
    runtime: Runtime = app.extensions["scim_bridge"]
    seen: list[int] = []
    # The outbox hook runs inside the POST, after its transaction commits.
    runtime.on_outbox_commit.append(lambda: seen.append(runtime.in_flight.count))

    created = scim.post("/Users", person("ada", "+86 13900001111"))

    assert created.status_code == 201
    assert seen == [1]
    assert runtime.in_flight.count == 0


def test_refused_and_unknown_requests_are_not_left_counted(app: Any) -> None:
    runtime: Runtime = app.extensions["scim_bridge"]
    client = app.test_client()

    assert client.get("/scim/v2/Users").status_code == 401  # no token
    assert client.get("/no/such/page").status_code == 404

    assert runtime.in_flight.count == 0


def test_under_constant_api_load_every_change_still_reaches_dingtalk(
    scim: Any, worker: Worker, emulator: RunningEmulator
) -> None:
    naps: list[float] = []
    # An API that is always busy: each change waits its bounded share, then goes on.
    worker.courtesy = Courtesy(busy=lambda: True, most=0.01, step=0.005, sleep=naps.append)
    for index in range(3):
        scim.post("/Users", person(f"busy{index}", f"+86 1390000222{index}"))

    worker.run_until_idle()

    names = sorted(u["name"] for u in emulator.emulator.users().values())
    assert names == ["Busy0", "Busy1", "Busy2"]
    assert len(naps) == 3 * 2  # two naps of 5 ms per change: 10 ms, the bound, each
    assert abs(sum(naps) - 0.03) < 1e-9


def test_an_idle_api_costs_the_translator_no_wait(
    scim: Any, worker: Worker, emulator: RunningEmulator
) -> None:
    naps: list[float] = []
    worker.courtesy = Courtesy(busy=lambda: False, most=0.05, sleep=naps.append)
    scim.post("/Users", person("idle", "+86 13900003333"))

    worker.run_until_idle()

    assert [u["name"] for u in emulator.emulator.users().values()] == ["Idle"]
    assert naps == []
