"""The emulator's misbehaviour on purpose: QPS throttling, IP bans, injected faults and latency,
plus the control endpoints and the Python API that tests drive it with. Over real HTTP.

QPS windows and IP bans run on the emulator's injected clock, so nothing here sleeps for them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from scim_bridge.dingtalk.emulator import (
    Emulator,
    EmulatorConfig,
    RunningEmulator,
    start_emulator,
)

APP_KEY = "faults-app-key"
APP_SECRET = "faults-app-secret"
START = 1_788_000_000.25  # mid-second, so "advance 1 s" always lands in the next window


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def running(clock: FakeClock) -> Iterator[RunningEmulator]:
    config = EmulatorConfig(app_key=APP_KEY, app_secret=APP_SECRET, qps=0, clock=clock)
    with start_emulator(config) as server:
        yield server


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture
def emulator(running: RunningEmulator, clock: FakeClock) -> Emulator:
    clock.now = START
    em = running.emulator
    em.reset()
    em.configure(
        qps=0,
        fail_rate=0.0,
        latency=0.0,
        seed=0,
        faults_on_writes_only=False,
        fault_kinds=("http500", "http502", "busy", "timeout", "timeout_after_apply"),
        timeout_stall=15.0,
        ip_limit=None,
    )
    return em


@pytest.fixture
def url(running: RunningEmulator, emulator: Emulator) -> str:
    return running.url


def token(http: requests.Session, url: str) -> str:
    params = {"appkey": APP_KEY, "appsecret": APP_SECRET}
    return str(http.get(f"{url}/gettoken", params=params).json()["access_token"])


def count(http: requests.Session, url: str, tok: str, **kw: Any) -> requests.Response:
    return http.post(
        f"{url}/topapi/user/count", params={"access_token": tok}, json={"only_active": False}, **kw
    )


def create_user(
    http: requests.Session, url: str, tok: str, userid: str, **kw: Any
) -> requests.Response:
    body = {"userid": userid, "name": userid, "mobile": "13800000001", "dept_id_list": "1"}
    return http.post(f"{url}/topapi/v2/user/create", params={"access_token": tok}, json=body, **kw)


# --- §8 throttling -----------------------------------------------------------------------------


def test_topapi_over_qps_answers_88_with_sub_code_90018_until_the_next_second(
    http: requests.Session, url: str, emulator: Emulator, clock: FakeClock
) -> None:
    tok = token(http, url)
    emulator.configure(qps=2)
    answers = [count(http, url, tok).json() for _ in range(3)]
    assert [a["errcode"] for a in answers] == [0, 0, 88]
    throttled = answers[2]
    assert throttled["sub_code"] == "90018"
    assert throttled["errmsg"].startswith("ding talk error[subcode=90018,submsg=")
    clock.advance(1)
    assert count(http, url, tok).json()["errcode"] == 0


def test_qps_is_counted_per_api(http: requests.Session, url: str, emulator: Emulator) -> None:
    tok = token(http, url)
    emulator.configure(qps=1)
    assert count(http, url, tok).json()["errcode"] == 0
    assert count(http, url, tok).json()["errcode"] == 88
    other = http.post(f"{url}/topapi/v2/department/listsub", params={"access_token": tok}, json={})
    assert other.json()["errcode"] == 0


def test_legacy_path_over_qps_answers_top_level_90018(
    http: requests.Session, url: str, emulator: Emulator
) -> None:
    tok = token(http, url)
    emulator.configure(qps=1)
    codes = [
        http.post(
            f"{url}/role/add_role_group", params={"access_token": tok}, json={"name": "G"}
        ).json()["errcode"]
        for _ in range(2)
    ]
    assert codes == [0, 90018]


def test_v1_over_qps_answers_403_qps_limit_for_appkey_and_api(
    http: requests.Session, url: str, emulator: Emulator
) -> None:
    tok = token(http, url)
    emulator.configure(qps=1)
    headers = {"x-acs-dingtalk-access-token": tok}
    params = {"startTime": "2026-08-01T00:00:00Z", "maxResults": 5}
    first = http.get(f"{url}/v1.0/contact/empLeaveRecords", headers=headers, params=params)
    second = http.get(f"{url}/v1.0/contact/empLeaveRecords", headers=headers, params=params)
    assert first.status_code == 200
    assert second.status_code == 403
    assert second.json()["code"] == "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"


def test_ip_over_its_limit_is_banned_with_the_punish_body_until_the_ban_ends(
    http: requests.Session, url: str, emulator: Emulator, clock: FakeClock
) -> None:
    emulator.configure(ip_limit=3, ip_window=20.0, ip_ban=300.0)
    tok = token(http, url)  # request 1 of the window
    assert count(http, url, tok).json()["errcode"] == 0
    assert count(http, url, tok).json()["errcode"] == 0
    banned = count(http, url, tok).json()  # the 4th request from this IP in the window
    assert banned["punish"] == "deny"
    assert {"status": 1111, "wait": 5, "source": "x5"}.items() <= banned.items()
    clock.advance(299)
    assert count(http, url, tok).json()["punish"] == "deny"
    clock.advance(2)
    assert count(http, url, tok).json()["errcode"] == 0


# --- fault injection ---------------------------------------------------------------------------


def _outcomes(http: requests.Session, url: str, tok: str, n: int) -> list[tuple[int, Any]]:
    out = []
    for _ in range(n):
        resp = count(http, url, tok)
        body = resp.json().get("errcode") if resp.status_code == 200 else resp.text[:20]
        out.append((resp.status_code, body))
    return out


def test_faults_with_the_same_seed_repeat_the_same_sequence(
    http: requests.Session, url: str, emulator: Emulator
) -> None:
    tok = token(http, url)
    emulator.configure(fail_rate=0.5, fault_kinds=("http500", "http502", "busy"), seed=7)
    first = _outcomes(http, url, tok, 30)
    emulator.configure(seed=7)
    second = _outcomes(http, url, tok, 30)
    assert first == second
    statuses = {status for status, _ in first}
    assert statuses == {200, 500, 502}
    assert (200, -1) in first and (200, 0) in first
    emulator.configure(seed=8)
    assert _outcomes(http, url, tok, 30) != first


def test_injected_faults_are_recorded_in_the_call_log(
    http: requests.Session, url: str, emulator: Emulator
) -> None:
    tok = token(http, url)
    emulator.configure(fail_rate=1.0, fault_kinds=("busy",))
    answer = count(http, url, tok).json()
    assert (answer["errcode"], answer["errmsg"]) == (-1, "系统繁忙")
    last = emulator.calls()[-1]
    assert last["fault"] == "busy"
    assert last["outcome"] == {"status": 200, "errcode": -1}


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("http500", {"oapi": 500, "v1": 500, "v1_code": "systemError"}),
        ("http502", {"oapi": 502, "v1": 502, "v1_code": None}),
        ("busy", {"oapi": 200, "v1": 503, "v1_code": "ServiceUnavailable"}),
    ],
)
def test_each_fault_kind_has_its_shape_on_both_families(
    http: requests.Session, url: str, emulator: Emulator, kind: str, expected: dict[str, Any]
) -> None:
    tok = token(http, url)
    emulator.configure(fail_rate=1.0, fault_kinds=(kind,))
    oapi = count(http, url, tok)
    assert oapi.status_code == expected["oapi"]
    if kind == "busy":
        assert oapi.json()["errcode"] == -1  # dingtalk-api.md §11: -1 system busy
    else:
        assert "<html>" in oapi.text  # a gateway page, not JSON
    v1 = http.get(
        f"{url}/v1.0/contact/empLeaveRecords",
        headers={"x-acs-dingtalk-access-token": tok},
        params={"startTime": "2026-08-01T00:00:00Z", "maxResults": 5},
    )
    assert v1.status_code == expected["v1"]
    if expected["v1_code"] is not None:
        assert v1.json()["code"] == expected["v1_code"]


def test_timeout_fault_stalls_and_does_not_apply_the_write(
    http: requests.Session, url: str, emulator: Emulator
) -> None:
    tok = token(http, url)
    emulator.configure(fail_rate=1.0, fault_kinds=("timeout",), timeout_stall=0.5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        create_user(http, url, tok, "ann", timeout=0.1)
    assert "ann" not in emulator.users()


def test_timeout_after_apply_applies_the_write_then_stalls(
    http: requests.Session, url: str, emulator: Emulator
) -> None:
    tok = token(http, url)
    emulator.configure(fail_rate=1.0, fault_kinds=("timeout_after_apply",), timeout_stall=0.5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        create_user(http, url, tok, "ann", timeout=0.1)
    # The write went through; a naive retry now collides with it.
    deadline = time.monotonic() + 2
    while "ann" not in emulator.users() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "ann" in emulator.users()
    emulator.configure(fail_rate=0.0)
    assert create_user(http, url, tok, "ann").json()["errcode"] == 60102


def test_timeout_fault_answers_504_to_a_caller_who_waits_out_the_stall(
    http: requests.Session, url: str, emulator: Emulator
) -> None:
    tok = token(http, url)
    emulator.configure(fail_rate=1.0, fault_kinds=("timeout",), timeout_stall=0.2)
    resp = create_user(http, url, tok, "ann", timeout=5)
    assert resp.status_code == 504
    assert emulator.calls()[-1]["fault"] == "timeout"


def test_calls_in_flight_across_a_reset_are_not_logged_after_it(
    http: requests.Session, url: str, emulator: Emulator
) -> None:
    tok = token(http, url)
    emulator.configure(fail_rate=1.0, fault_kinds=("timeout",), timeout_stall=0.3)
    with pytest.raises(requests.exceptions.ReadTimeout):
        create_user(http, url, tok, "ann", timeout=0.05)
    emulator.reset()
    time.sleep(0.5)  # let the stalled call finish
    assert emulator.calls() == []


def test_timeout_after_apply_answers_the_real_result_to_a_patient_caller(
    http: requests.Session, url: str, emulator: Emulator
) -> None:
    tok = token(http, url)
    emulator.configure(fail_rate=1.0, fault_kinds=("timeout_after_apply",), timeout_stall=0.2)
    answer = create_user(http, url, tok, "ann", timeout=5).json()
    assert answer["result"]["userid"] == "ann"


def test_faults_on_writes_only_spare_reads(
    http: requests.Session, url: str, emulator: Emulator
) -> None:
    tok = token(http, url)
    emulator.configure(fail_rate=1.0, fault_kinds=("busy",), faults_on_writes_only=True)
    assert all(count(http, url, tok).json()["errcode"] == 0 for _ in range(5))
    assert create_user(http, url, tok, "ann").json()["errcode"] == -1
    assert emulator.users() == {}


def test_latency_is_added_to_calls_without_serialising_them(
    http: requests.Session, url: str, emulator: Emulator
) -> None:
    tok = token(http, url)
    emulator.configure(latency=0.5)
    before = len(emulator.calls())

    def one(_: int) -> int:
        with requests.Session() as session:
            return int(count(session, url, tok).json()["errcode"])

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(one, range(8)))
    elapsed = time.monotonic() - started
    assert codes == [0] * 8
    waited = [call["duration"] for call in emulator.calls()[before:]]
    assert len(waited) == 8 and min(waited) >= 0.5  # every call waited its latency...
    # ...but not one after another: the calls' own waits add up to several times the whole
    # run (serialised, the run would last at least their sum; the margin is seconds, so a
    # loaded machine cannot fake it).
    assert elapsed < sum(waited)


# --- control endpoints -------------------------------------------------------------------------


def test_control_state_matches_the_python_snapshot(
    http: requests.Session, url: str, emulator: Emulator
) -> None:
    tok = token(http, url)
    create_user(http, url, tok, "ann")
    state = http.get(f"{url}/__emulator__/state").json()
    assert state == emulator.snapshot()
    assert [u["userid"] for u in state["users"]] == ["ann"]
    assert state["departments"][0]["dept_id"] == 1
    assert {"role_groups", "roles", "leave_records"} <= set(state)


def test_control_calls_lists_each_call_with_its_outcome_and_touched_ids(
    http: requests.Session, url: str, emulator: Emulator
) -> None:
    tok = token(http, url)
    create_user(http, url, tok, "ann")
    http.post(f"{url}/topapi/v2/user/get", params={"access_token": "bad"}, json={"userid": "x"})
    calls = http.get(f"{url}/__emulator__/calls").json()
    assert [c["api"] for c in calls] == [
        "/gettoken",
        "/topapi/v2/user/create",
        "/topapi/v2/user/get",
    ]
    created = calls[1]
    assert created["method"] == "POST"
    assert created["app_key"] == APP_KEY
    assert created["userid"] == "ann"
    assert created["outcome"] == {"status": 200, "errcode": 0}
    assert created["fault"] is None
    assert calls[2]["outcome"] == {"status": 200, "errcode": 88, "sub_code": "40014"}


def test_control_reset_empties_the_org_and_keeps_tokens(
    http: requests.Session, url: str, emulator: Emulator
) -> None:
    tok = token(http, url)
    create_user(http, url, tok, "ann")
    assert http.post(f"{url}/__emulator__/reset").json() == {"ok": True}
    assert emulator.users() == {}
    assert emulator.calls() == []
    assert count(http, url, tok).json()["result"] == {"count": 0}


def test_control_load_replaces_the_org_with_a_snapshot(
    http: requests.Session, url: str, emulator: Emulator
) -> None:
    tok = token(http, url)
    create_user(http, url, tok, "ann")
    saved = emulator.snapshot()
    http.post(f"{url}/__emulator__/reset")
    assert http.post(f"{url}/__emulator__/load", json=saved).json() == {"ok": True}
    assert emulator.snapshot() == saved
    bad = http.post(f"{url}/__emulator__/load", json={"users": [{"dept_id_list": ["x"]}]})
    assert bad.status_code == 400


def test_loaded_snapshot_never_reuses_department_ids(emulator: Emulator) -> None:
    emulator.load({"departments": [{"dept_id": 900_000_000, "name": "Big"}]})
    assert max(emulator.departments()) == 900_000_000
    assert emulator.snapshot()["counters"]["next_dept_id"] == 900_000_001


def test_control_config_reads_and_changes_settings(
    http: requests.Session, url: str, emulator: Emulator
) -> None:
    changed = http.post(
        f"{url}/__emulator__/config", json={"qps": 5, "fault_kinds": ["busy"], "seed": 3}
    ).json()
    assert (changed["qps"], changed["fault_kinds"], changed["seed"]) == (5, ["busy"], 3)
    assert http.get(f"{url}/__emulator__/config").json() == changed
    assert emulator.config.qps == 5
    assert "app_secret" not in changed


@pytest.mark.parametrize(
    "body",
    [{"nosuch": 1}, {"fault_kinds": ["meteor"]}, {"fail_rate": 2}, {"clock": 0}],
)
def test_control_config_refuses_bad_settings_with_400(
    http: requests.Session, url: str, body: dict[str, Any]
) -> None:
    resp = http.post(f"{url}/__emulator__/config", json=body)
    assert resp.status_code == 400
    assert resp.json()["error"]


def test_control_expire_tokens_makes_the_next_call_answer_42001(
    http: requests.Session, url: str
) -> None:
    tok = token(http, url)
    assert http.post(f"{url}/__emulator__/expire-tokens").json() == {"ok": True}
    assert count(http, url, tok).json()["sub_code"] == "42001"
    assert token(http, url) != tok


def test_unknown_control_endpoint_answers_404(http: requests.Session, url: str) -> None:
    assert http.get(f"{url}/__emulator__/nosuch").status_code == 404


def test_control_endpoints_need_no_token_and_are_not_throttled_or_logged(
    http: requests.Session, url: str, emulator: Emulator
) -> None:
    emulator.configure(qps=1, fail_rate=1.0)
    for _ in range(3):
        assert http.get(f"{url}/__emulator__/state").status_code == 200
    assert emulator.calls() == []


def test_configure_refuses_unknown_settings(emulator: Emulator) -> None:
    with pytest.raises(ValueError, match="nosuch"):
        emulator.configure(nosuch=1)


def test_configuring_the_org_name_renames_the_root_department(emulator: Emulator) -> None:
    emulator.configure(org_name="Renamed")
    assert emulator.departments()[1]["name"] == "Renamed"
    emulator.configure(org_name="Emulated Org")
