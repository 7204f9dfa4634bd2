"""The DingTalk client against the emulator over real HTTP on 127.0.0.1.

The client is written to dingtalk-api.md, not to the emulator: these tests use only the
emulator's Python handle (state, call log, faults) to arrange and observe, never a field or
header the specification does not describe.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scim_bridge.dingtalk.client import DepartmentNameTaken, DingTalkClient
from scim_bridge.dingtalk.emulator import EmulatorConfig, start_emulator
from scim_bridge.errors import (
    AmbiguousWrite,
    DepartmentNotEmpty,
    DingTalkConflict,
    DingTalkInvalid,
    DingTalkNotFound,
    IpBanned,
    Throttled,
    Transient,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dingtalk_client_fixtures import APP_KEY, APP_SECRET, FakeClock, FrozenSleep, make_client

CREATE = "/topapi/v2/user/create"
GET = "/topapi/v2/user/get"


@contextmanager
def emulated(
    client_kw: dict[str, Any] | None = None, **config: Any
) -> Iterator[tuple[Any, DingTalkClient]]:
    """Start an emulator (unlimited QPS unless told) and a client for it; stop both after."""
    settings: dict[str, Any] = {"app_key": APP_KEY, "app_secret": APP_SECRET, "qps": 0.0}
    settings.update(config)
    with (
        start_emulator(EmulatorConfig(**settings)) as running,
        make_client(running.url, **(client_kw or {})) as client,
    ):
        yield running.emulator, client


def user_fields(n: int, *, dept_ids: list[int] | None = None, **extra: Any) -> dict[str, Any]:
    """The fields of test user ``n``: a deterministic userid and a unique mainland mobile."""
    fields: dict[str, Any] = {
        "userid": f"scim-{n:05d}",
        "name": f"User {n}",
        "mobile": f"138{n:08d}",
        "dept_id_list": dept_ids or [1],
    }
    fields.update(extra)
    return fields


def calls_to(emulator: Any, path: str) -> list[dict[str, Any]]:
    """The emulator's call-log entries for one path."""
    return [c for c in emulator.calls() if c["path"] == path]


# --- users ---------------------------------------------------------------------------------------


def test_user_create_get_update_delete_round_trip():
    with emulated() as (emulator, client):
        created = client.create_user(user_fields(1, title="Engineer", email="u1@example.com"))
        assert created.userid == "scim-00001"
        assert created.unionid  # §3.1 answers unionId; the client accepts both spellings
        user = client.get_user("scim-00001")
        assert (user["name"], user["title"], user["mobile"]) == (
            "User 1",
            "Engineer",
            "13800000001",
        )
        assert user["unionid"] == created.unionid

        client.update_user("scim-00001", {"title": "Lead"})
        after = client.get_user("scim-00001")
        assert (after["title"], after["name"]) == (
            "Lead",
            "User 1",
        )  # §3.2: only sent fields change

        assert client.delete_user("scim-00001") is True
        assert client.delete_user("scim-00001") is False  # §3.3: already gone counts as success
        assert client.find_user("scim-00001") is None
        with pytest.raises(DingTalkNotFound) as info:
            client.get_user("scim-00001")
        assert info.value.field == "userid"
        assert "scim-00001" not in emulator.users()


def test_update_user_clears_the_manager_only_when_asked():
    with emulated() as (_, client):
        client.create_user(user_fields(1))
        client.create_user(user_fields(2, manager_userid="scim-00001"))
        assert client.get_user("scim-00002").get("manager_userid") == "scim-00001"
        client.update_user("scim-00002", {"title": "x"})
        assert client.get_user("scim-00002").get("manager_userid") == "scim-00001"
        client.update_user("scim-00002", {}, clear_manager=True)
        # §3.4: manager_userid is omitted when empty; tolerate either form.
        assert not client.get_user("scim-00002").get("manager_userid")


@pytest.mark.parametrize(
    ("fields", "cls", "field"),
    [
        ({"mobile": "13800000001", "userid": "other"}, DingTalkConflict, "mobile"),
        ({"userid": "scim-00001", "mobile": "13900000009"}, DingTalkConflict, "userid"),
        ({"userid": "other", "mobile": "12345"}, DingTalkInvalid, "mobile"),
    ],
)
def test_create_user_conflicts_and_invalid_values_name_the_field(fields, cls, field):
    with emulated() as (emulator, client):
        client.create_user(user_fields(1))
        with pytest.raises(cls) as info:
            client.create_user({**user_fields(2), **fields})
        assert info.value.field == field
        assert not info.value.retryable
        assert len(calls_to(emulator, CREATE)) == 2  # never retried


def test_find_user_and_lookups():
    with emulated() as (_, client):
        client.create_user(user_fields(7))
        assert client.find_user("scim-00007")["name"] == "User 7"
        assert client.find_user("nobody") is None
        assert client.get_userid_by_mobile("13800000007") == "scim-00007"
        assert client.get_userid_by_mobile("13899999999") is None
        assert client.count_users() == 1


def test_paging_iterators_walk_more_than_a_hundred_users_once_each():
    with emulated() as (emulator, client):
        sales = client.create_department("Sales", 1)
        support = client.create_department("Support", sales)
        for n in range(230):
            depts = [sales] if n < 150 else [sales, support]  # 80 users in two departments
            client.create_user(user_fields(n, dept_ids=depts))
        for n in range(230, 240):
            client.create_user(user_fields(n))  # directly under the root

        in_sales = list(client.iter_department_users(sales))
        assert len(in_sales) == 230
        assert len({u["userid"] for u in in_sales}) == 230
        assert len(calls_to(emulator, "/topapi/v2/user/list")) == 3  # 100 + 100 + 30

        small_pages = list(client.iter_department_users(support, size=30))
        assert len(small_pages) == 80

        assert sorted(client.list_department_user_ids(support)) == [
            f"scim-{n:05d}" for n in range(150, 230)
        ]
        everyone = list(client.iter_all_users())
        assert len(everyone) == 240
        assert len({u["userid"] for u in everyone}) == 240
        assert client.count_users() == 240


# --- departments ---------------------------------------------------------------------------------


def test_department_tree_reads():
    with emulated() as (_, client):
        eng = client.create_department("Engineering", 1, source_identifier="scim-g-1")
        backend = client.create_department("Backend", eng, order=5)
        frontend = client.create_department("Frontend", eng)
        db = client.create_department("Databases", backend)
        hr = client.create_department("HR", 1)
        assert len({eng, backend, frontend, db, hr}) == 5  # ids assigned by the server

        assert client.get_department(eng)["source_identifier"] == "scim-g-1"
        assert {d["name"] for d in client.list_sub_departments()} == {"Engineering", "HR"}
        assert sorted(client.list_sub_department_ids(eng)) == sorted([backend, frontend])
        assert client.list_parent_department_ids(db) == [db, backend, eng, 1]
        order = [d["dept_id"] for d in client.iter_departments()]
        assert sorted(order[:2]) == sorted([eng, hr])  # breadth-first: the first level first
        assert order[-1] == db
        assert len(order) == 5


def test_department_update_and_delete_are_idempotent():
    with emulated() as (_, client):
        eng = client.create_department("Engineering", 1)
        client.create_user(user_fields(1, dept_ids=[eng]))
        client.update_department(eng, {"name": "R&D", "dept_manager_userid_list": ["scim-00001"]})
        details = client.get_department(eng)
        assert (details["name"], details["dept_manager_userid_list"]) == ("R&D", ["scim-00001"])
        client.update_department(eng, {}, clear_managers=True)
        assert not client.get_department(eng).get("dept_manager_userid_list")

        with pytest.raises(DepartmentNotEmpty) as occupied:  # 60005: still has members (§4.3)
            client.delete_department(eng)
        # A member's move out may still be in flight: the worker retries, it does not bury it.
        assert isinstance(occupied.value, DingTalkInvalid) and occupied.value.retryable
        client.delete_user("scim-00001")
        assert client.delete_department(eng) is True
        assert client.delete_department(eng) is False  # 60003: already gone (§10)
        with pytest.raises(DingTalkNotFound):
            client.get_department(eng)


@pytest.mark.parametrize("clash_code", [60008, 60021])
def test_department_name_clash_names_the_existing_sibling_or_adopts_it(clash_code):
    with emulated(dept_name_clash_code=clash_code) as (emulator, client):
        eng = client.create_department("Engineering", 1)
        with pytest.raises(DepartmentNameTaken) as info:
            client.create_department("Engineering", 1)
        assert isinstance(info.value, DingTalkConflict)
        assert (info.value.reason, info.value.field, info.value.dept_id) == (
            str(clash_code),
            "name",
            eng,
        )
        assert client.create_department("Engineering", 1, adopt=True) == eng
        assert len([d for d in emulator.departments().values() if d["name"] == "Engineering"]) == 1


def test_find_department_matches_name_and_source_identifier():
    with emulated() as (_, client):
        eng = client.create_department("Engineering", 1, source_identifier="scim-g-1")
        client.create_department("Sales", 1, source_identifier="scim-g-2")
        assert client.find_department(1, name="Engineering")["dept_id"] == eng
        assert client.find_department(1, source_identifier="scim-g-1")["dept_id"] == eng
        assert client.find_department(1, name="Engineering", source_identifier="scim-g-2") is None
        assert client.find_department(1, name="Nope") is None
        assert client.find_department(eng, name="Sales") is None


# --- roles and leavers ---------------------------------------------------------------------------


def test_roles_are_created_listed_and_assigned_in_chunks():
    with emulated() as (emulator, client):
        group = client.add_role_group("SCIM groups")
        admins = client.add_role("Admins", group)
        auditors = client.add_role("Auditors", group)
        roles = {r.name: r for r in client.iter_roles()}
        assert roles["Admins"].role_id == admins
        assert (roles["Auditors"].group_id, roles["Auditors"].group_name) == (group, "SCIM groups")

        userids = [client.create_user(user_fields(n)).userid for n in range(45)]
        client.add_roles_for_users([admins, auditors], userids)
        assert len(calls_to(emulator, "/topapi/role/addrolesforemps")) == 3  # 20 + 20 + 5 users
        role_ids = {r["id"] for r in client.get_user(userids[44])["role_list"]}
        assert {admins, auditors} <= role_ids

        client.remove_roles_for_users([auditors], userids)
        assert len(calls_to(emulator, "/topapi/role/removerolesforemps")) == 1  # ≤100 users
        role_ids = {r["id"] for r in client.get_user(userids[0])["role_list"]}
        assert admins in role_ids and auditors not in role_ids


def test_leave_records_page_with_next_token():
    with emulated() as (emulator, client):
        start = datetime.now(UTC) - timedelta(hours=1)
        for n in range(60):
            client.create_user(user_fields(n))
        for n in range(60):
            client.delete_user(f"scim-{n:05d}")
        records = list(client.iter_leave_records(start))
        assert len(records) == 60
        assert {r["userId"] for r in records} == {f"scim-{n:05d}" for n in range(60)}
        assert {r["leaveReason"] for r in records} == {"oapi"}
        assert len(calls_to(emulator, "/v1.0/contact/empLeaveRecords")) == 2  # 50 + 10


# --- tokens ---------------------------------------------------------------------------------------


def test_an_expired_token_is_refreshed_transparently_with_exactly_one_retry():
    with emulated() as (emulator, client):
        client.create_user(user_fields(1))
        assert client.stats().token_fetches == 1
        emulator.expire_tokens()
        assert client.get_user("scim-00001")["userid"] == "scim-00001"
        gets = calls_to(emulator, GET)
        assert [(c["outcome"].get("errcode"), c["outcome"].get("sub_code")) for c in gets] == [
            (88, "42001"),
            (0, None),
        ]
        stats = client.stats()
        assert (stats.auth_retries, stats.token_fetches) == (1, 2)


def test_a_token_about_to_expire_is_renewed_before_any_call_fails():
    clock = FakeClock()
    with emulated({"clock": clock, "sleep": clock.sleep}, clock=clock, token_ttl=600.0) as (
        emulator,
        client,
    ):
        client.create_user(user_fields(1))
        clock.advance(600 - 100)  # within the refresh margin (min(300, ttl/4) = 150 s)
        client.get_user("scim-00001")
        clock.advance(400)  # past the first token's original expiry
        client.get_user("scim-00001")
        assert all(c["outcome"]["status"] == 200 for c in emulator.calls())
        assert not [c for c in emulator.calls() if c["outcome"].get("errcode") not in (None, 0)]
        assert client.stats().auth_retries == 0
        assert client.stats().token_fetches == 2  # §2.1: the same token, lifetime extended


def test_many_threads_share_one_token():
    with emulated() as (emulator, client):
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda n: client.create_user(user_fields(n)), range(40)))
        assert len(emulator.users()) == 40
        assert client.stats().token_fetches == 1
        assert len(calls_to(emulator, "/v1.0/oauth2/accessToken")) == 1


# --- throttling and failures ---------------------------------------------------------------------


def test_throttling_is_absorbed_without_failed_operations():
    # The emulator allows 5 calls per API per second; the client is told 50, so DingTalk's own
    # limit is met. One fake clock drives both: a throttled thread's ≥1 s sleep opens a new window.
    clock = FakeClock()
    with emulated({"qps": 50.0, "clock": clock, "sleep": clock.sleep}, clock=clock, qps=5.0) as (
        emulator,
        client,
    ):
        with ThreadPoolExecutor(max_workers=4) as pool:
            created = list(pool.map(lambda n: client.create_user(user_fields(n)), range(30)))
        assert len(created) == 30
        assert len(emulator.users()) == 30
        throttled = [
            c for c in calls_to(emulator, CREATE) if c["outcome"].get("sub_code") == "90018"
        ]
        assert throttled, "the emulator's limit was never met"
        assert client.stats().throttled == len(throttled)
        assert client.current_rate(CREATE) < 50.0  # the limiter slowed down


def test_a_throttle_that_never_ends_surfaces_as_throttled():
    clock = FakeClock()
    sleep = FrozenSleep()  # time never moves, so the emulator's window never reopens
    with emulated({"clock": clock, "sleep": sleep}, clock=clock, qps=1.0) as (emulator, client):
        client.create_user(user_fields(1))
        with pytest.raises(Throttled):
            client.create_user(user_fields(2))
        assert len(calls_to(emulator, CREATE)) == 1 + 6
        assert "scim-00002" not in emulator.users()


def test_a_write_applied_before_a_timeout_is_detected_by_a_re_read_not_duplicated():
    with emulated(
        {"read_timeout": 0.3, "sleep": FrozenSleep()},
        fail_rate=1.0,
        fault_kinds=("timeout_after_apply",),
        faults_on_writes_only=True,
        timeout_stall=1.0,
    ) as (emulator, client):
        with pytest.raises(AmbiguousWrite) as info:
            client.create_user(user_fields(1))
        assert info.value.retryable
        assert len(calls_to(emulator, CREATE)) <= 1  # not retried blindly
        found = client.find_user("scim-00001")  # the re-read (§12.4)
        assert found is not None and found["name"] == "User 1"
        emulator.configure(fail_rate=0.0)
        with pytest.raises(DingTalkConflict) as again:  # a blind retry would meet 60102
            client.create_user(user_fields(1))
        assert again.value.reason == "60102"
        assert list(emulator.users()) == ["scim-00001"]


@pytest.mark.parametrize("kind", ["http500", "http502", "busy"])
def test_server_failures_on_writes_raise_ambiguous_write_and_reads_are_retried(kind):
    sleep = FrozenSleep()
    with emulated({"sleep": sleep}) as (emulator, client):
        client.count_users()  # fetch the token before the faults start
        emulator.configure(fail_rate=1.0, fault_kinds=(kind,))
        with pytest.raises(AmbiguousWrite):
            client.create_user(user_fields(1))
        assert len(calls_to(emulator, CREATE)) == 1
        with pytest.raises(Transient) as info:
            client.get_user("scim-00001")
        assert not isinstance(info.value, AmbiguousWrite)
        assert len(calls_to(emulator, GET)) == 4  # one call and three retries
        emulator.configure(fail_rate=0.0)
        assert client.find_user("scim-00001") is None  # these faults do not apply the write


def test_a_read_that_times_out_is_retried():
    with emulated(
        {"read_timeout": 0.2, "sleep": FrozenSleep()},
        fail_rate=1.0,
        fault_kinds=("timeout",),
        timeout_stall=0.5,
    ) as (emulator, client):
        emulator.configure(fail_rate=0.0)
        client.create_user(user_fields(1))
        emulator.configure(fail_rate=0.5, seed=3)
        started = time.monotonic()
        assert client.get_user("scim-00001")["userid"] == "scim-00001"
        assert time.monotonic() - started < 5
        assert client.stats().transient_retries == 2  # seed 3: two stalls, then an answer


def test_an_ip_ban_opens_the_circuit_until_the_ban_window_passes():
    clock = FakeClock()
    with emulated(
        {"clock": clock, "sleep": clock.sleep}, clock=clock, ip_limit=5, ip_window=20.0
    ) as (emulator, client):
        for _ in range(4):  # the token call plus four reads: five requests in the window
            client.count_users()
        with pytest.raises(IpBanned) as info:
            client.count_users()
        assert info.value.retry_after >= 300
        answered = len(emulator.calls())
        clock.advance(100)
        with pytest.raises(IpBanned) as again:
            client.count_users()
        assert 190 <= again.value.retry_after <= 200
        assert len(emulator.calls()) == answered  # refused without a request
        clock.advance(again.value.retry_after + 1)
        assert client.count_users() == 0


def test_secrets_never_reach_the_logs_in_a_run_with_refusals(caplog):
    caplog.set_level(logging.DEBUG)
    with emulated() as (emulator, client):
        client.create_user(user_fields(1))
        emulator.expire_tokens()
        client.get_user("scim-00001")
        with pytest.raises(DingTalkNotFound) as info:
            client.get_user("nobody")
        # Observe the issued tokens through the emulator's token store (test-side only).
        tokens = list(emulator.tokens.tokens)
    assert len(tokens) == 2
    for text in (caplog.text, str(info.value), repr(info.value)):
        assert APP_SECRET not in text
        assert all(token not in text for token in tokens)
    assert "access_token=***" in caplog.text  # urllib3's request lines were redacted


def test_refresh_token_fetches_once_when_due_and_not_before() -> None:
    """The scheduler's token job: a fetch when none is cached, none while the token is fresh."""
    cfg = EmulatorConfig(qps=0)
    with start_emulator(cfg) as running:
        client = DingTalkClient(
            app_key=cfg.app_key,
            app_secret=cfg.app_secret,
            oapi_url=running.url,
            api_url=running.url,
        )
        with client:
            client.refresh_token()
            client.refresh_token()
            token_calls = [c for c in running.emulator.calls() if "token" in c["path"].lower()]
    assert len(token_calls) == 1
