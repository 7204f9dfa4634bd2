"""The DingTalk client's error normaliser and retry policy, over real HTTP on canned answers.

Every answer here is one that dingtalk-api.md documents (§1, §2.3, §8, §11); the canned-answer
server puts it on the wire so the client sees exactly what a DingTalk implementation would send,
including answers our emulator never gives.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from scim_bridge.dingtalk.client import DingTalkClient
from scim_bridge.errors import (
    AmbiguousWrite,
    AuthFailed,
    DingTalkConflict,
    DingTalkError,
    DingTalkInvalid,
    DingTalkNotFound,
    IpBanned,
    PermissionDenied,
    Throttled,
    Transient,
)
from scim_bridge.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dingtalk_client_fixtures import (
    APP_KEY,
    APP_SECRET,
    CANNED_TOKEN,
    TOKEN_OK,
    FakeClock,
    FrozenSleep,
    canned_server,
    make_client,
    oapi_error,
    ok,
    v1_error,
)

GET = "/topapi/v2/user/get"
CREATE = "/topapi/v2/user/create"
V1_TOKEN = "/v1.0/oauth2/accessToken"
DENIED = "Forbidden.AccessDenied."

# (answer, expected class, expected reason, expected field) — dingtalk-api.md §11.
NEVER_RETRIED = [
    (oapi_error(60121), DingTalkNotFound, "60121", "userid"),
    (oapi_error("60121"), DingTalkNotFound, "60121", "userid"),  # errcode as a string (§1)
    (oapi_error(60111), DingTalkNotFound, "60111", "userid"),
    (oapi_error(33012), DingTalkNotFound, "33012", "userid"),
    (oapi_error(60003), DingTalkNotFound, "60003", "dept_id"),
    (oapi_error(60004), DingTalkNotFound, "60004", "parent_id"),
    (oapi_error(60102), DingTalkConflict, "60102", "userid"),
    (oapi_error(60104), DingTalkConflict, "60104", "mobile"),
    (oapi_error(60106), DingTalkConflict, "60106", "email"),
    (oapi_error(40101), DingTalkConflict, "40101", "email"),
    (oapi_error(40100), DingTalkConflict, "40100", "telephone"),
    (oapi_error(40021), DingTalkConflict, "40021", "mobile"),
    (oapi_error(60008), DingTalkConflict, "60008", "name"),
    (oapi_error(60021), DingTalkConflict, "60021", "name"),
    (oapi_error(60103), DingTalkInvalid, "60103", "mobile"),
    (oapi_error(60112), DingTalkInvalid, "60112", "name"),
    (oapi_error(40035), DingTalkInvalid, "40035", None),
    (oapi_error(60001), DingTalkInvalid, "60001", "name"),
    (oapi_error(60009), DingTalkInvalid, "60009", "name"),
    (oapi_error(400002), DingTalkInvalid, "400002", None),
    (oapi_error(43007), PermissionDenied, "43007", None),
    (oapi_error(88, "60011"), PermissionDenied, "60011", None),
    (oapi_error(50002), PermissionDenied, "50002", "userid"),
    (oapi_error(50004), PermissionDenied, "50004", "dept_id"),
    (oapi_error(60020), PermissionDenied, "60020", None),
    (v1_error(403, f"{DENIED}AccessTokenPermissionDenied"), PermissionDenied, "", None),
    (v1_error(403, f"{DENIED}IpNotInWhiteList"), PermissionDenied, "", None),
    (v1_error(400, "invalidParameter.param.invalid"), DingTalkInvalid, "", None),
    (oapi_error(22, "22"), DingTalkError, "22", None),
    (oapi_error(12345), DingTalkError, "12345", None),  # unknown: plain, not retryable
]


def _expected_reason(answer: tuple[int, dict], reason: str) -> str:
    return reason or answer[1]["code"]  # v1.0: the reason is the code string (§12.2)


@pytest.mark.parametrize(("answer", "cls", "reason", "field"), NEVER_RETRIED)
def test_each_error_code_raises_its_class_without_retrying(answer, cls, reason, field):
    with canned_server() as (url, canned), make_client(url, sleep=FrozenSleep()) as client:
        canned.set(V1_TOKEN, TOKEN_OK)
        canned.set(GET, answer)
        with pytest.raises(DingTalkError) as info:
            client.get_user("u1")
    assert type(info.value) is cls
    assert info.value.reason == _expected_reason(answer, reason)
    if field is not None:
        assert info.value.field == field
    assert not info.value.retryable
    assert len(canned.calls(GET)) == 1
    assert info.value.api == GET


def test_unknown_code_keeps_code_and_request_id():
    with canned_server() as (url, canned), make_client(url) as client:
        canned.set(V1_TOKEN, TOKEN_OK)
        canned.set(GET, oapi_error(77777))
        with pytest.raises(DingTalkError) as info:
            client.get_user("u1")
    assert type(info.value) is DingTalkError
    assert (info.value.reason, info.value.request_id, info.value.retryable) == (
        "77777",
        "req1",
        False,
    )


def test_string_errcode_zero_is_success():
    with canned_server() as (url, canned), make_client(url) as client:
        canned.set(V1_TOKEN, TOKEN_OK)
        canned.set(GET, (200, {"errcode": "0", "errmsg": "ok", "result": {"userid": "u1"}}))
        assert client.get_user("u1") == {"userid": "u1"}


@pytest.mark.parametrize(
    "throttle",
    [
        oapi_error(88, "90018"),
        oapi_error(88, "90002"),
        oapi_error(90018),
        oapi_error(90006),
        v1_error(403, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"),
    ],
)
def test_throttling_is_retried_after_at_least_a_second_then_succeeds(throttle):
    clock = FakeClock()
    with canned_server() as (url, canned):
        canned.set(V1_TOKEN, TOKEN_OK)
        canned.set(GET, throttle, throttle, ok(userid="u1"))
        with make_client(url, clock=clock, sleep=clock.sleep, qps=20) as client:
            assert client.get_user("u1")["userid"] == "u1"
            assert client.stats().throttled == 2
            # The API's limiter slowed down after the throttling answers.
            assert client.current_rate(GET) < 20
    throttle_sleeps = [s for s in clock.sleeps if s >= 0.9]
    assert len(throttle_sleeps) == 2
    assert 1.0 <= throttle_sleeps[0] <= 1.25
    assert 2.0 <= throttle_sleeps[1] <= 2.5


def test_throttled_surfaces_only_after_the_attempts_are_exhausted():
    sleep = FrozenSleep()
    with canned_server() as (url, canned), make_client(url, sleep=sleep) as client:
        canned.set(V1_TOKEN, TOKEN_OK)
        canned.set(CREATE, oapi_error(88, "90018"))
        with pytest.raises(Throttled) as info:
            client.create_user({"userid": "u1", "name": "A", "mobile": "13800000000"})
    assert info.value.retryable and info.value.retry_after >= 1.0
    assert len(canned.calls(CREATE)) == 6  # the first call plus five retries
    backoff = [s for s in sleep.sleeps if s >= 0.9]  # the limiter's own waits are shorter
    # dingtalk-api.md §12.3: 1 s, then exponential (capped) with up to 25 % jitter.
    bases = [1.0, 2.0, 4.0, 8.0, 8.0]
    assert len(backoff) == len(bases)
    assert all(base <= s <= base * 1.25 for base, s in zip(bases, backoff, strict=True))


@pytest.mark.parametrize(
    "failure",
    [
        oapi_error(-1),
        oapi_error("-1"),
        oapi_error(60019),
        (500, {"code": "systemError", "message": "x"}),
        (502, "<html><body>502 Bad Gateway</body></html>"),
        (503, "<html><body>503</body></html>"),
        (504, {"code": "service.timeout", "message": "x"}),
    ],
)
def test_transient_failures_on_reads_are_retried_with_backoff(failure):
    sleep = FrozenSleep()
    with canned_server() as (url, canned), make_client(url, sleep=sleep) as client:
        canned.set(V1_TOKEN, TOKEN_OK)
        canned.set(GET, failure, failure, ok(userid="u1"))
        assert client.get_user("u1")["userid"] == "u1"
        assert client.stats().transient_retries == 2
    assert len(canned.calls(GET)) == 3


def test_transient_read_failure_surfaces_after_three_retries():
    with canned_server() as (url, canned), make_client(url, sleep=FrozenSleep()) as client:
        canned.set(V1_TOKEN, TOKEN_OK)
        canned.set(GET, oapi_error(-1))
        with pytest.raises(Transient) as info:
            client.get_user("u1")
    assert type(info.value) is Transient and info.value.retryable
    assert len(canned.calls(GET)) == 4


@pytest.mark.parametrize(
    "failure",
    [oapi_error(-1), (500, "<html>500</html>"), (502, "<html>502</html>"), (504, {"code": "x"})],
)
def test_a_write_that_fails_ambiguously_raises_ambiguous_write_without_retrying(failure):
    with canned_server() as (url, canned), make_client(url, sleep=FrozenSleep()) as client:
        canned.set(V1_TOKEN, TOKEN_OK)
        canned.set(CREATE, failure)
        with pytest.raises(AmbiguousWrite) as info:
            client.create_user({"userid": "u1", "name": "A", "mobile": "13800000000"})
    assert isinstance(info.value, Transient) and info.value.retryable
    assert len(canned.calls(CREATE)) == 1


def test_a_write_that_was_throttled_is_retried_because_it_was_not_applied():
    clock = FakeClock()
    with canned_server() as (url, canned):
        canned.set(V1_TOKEN, TOKEN_OK)
        canned.set(CREATE, oapi_error(88, "90018"), ok(userid="u1", unionId="un1"))
        with make_client(url, clock=clock, sleep=clock.sleep) as client:
            created = client.create_user({"userid": "u1", "name": "A", "mobile": "13800000000"})
    assert (created.userid, created.unionid) == ("u1", "un1")
    assert len(canned.calls(CREATE)) == 2


@pytest.mark.parametrize(
    "token_error",
    [
        oapi_error(88, "40014"),
        oapi_error(88, "42001"),
        oapi_error(88, "40000"),
        oapi_error(40014),
        oapi_error(42001),
        oapi_error(40001),
        oapi_error(33001),
        oapi_error(41001),
    ],
)
def test_a_token_error_drops_the_token_and_retries_exactly_once(token_error):
    with canned_server() as (url, canned), make_client(url) as client:
        canned.set(V1_TOKEN, TOKEN_OK)
        canned.set(GET, token_error, ok(userid="u1"))
        assert client.get_user("u1")["userid"] == "u1"
        stats = client.stats()
    assert (stats.auth_retries, stats.token_fetches) == (1, 2)
    assert len(canned.calls(GET)) == 2
    assert len(canned.calls(V1_TOKEN)) == 2


def test_a_token_error_twice_raises_auth_failed_after_one_retry():
    with canned_server() as (url, canned), make_client(url) as client:
        canned.set(V1_TOKEN, TOKEN_OK)
        canned.set(GET, oapi_error(88, "40014"))
        with pytest.raises(AuthFailed):
            client.get_user("u1")
    assert len(canned.calls(GET)) == 2


def test_v1_invalid_authentication_is_retried_once_with_the_header_token():
    with canned_server() as (url, canned), make_client(url) as client:
        canned.set(V1_TOKEN, TOKEN_OK)
        leave = "/v1.0/contact/empLeaveRecords"
        canned.set(leave, v1_error(400, "InvalidAuthentication"), (200, {"records": []}))
        assert list(client.iter_leave_records("2026-01-01T00:00:00Z")) == []
    calls = canned.calls(leave)
    assert len(calls) == 2
    assert calls[1].headers["x-acs-dingtalk-access-token"] == CANNED_TOKEN
    assert "access_token" not in calls[1].query  # dingtalk-api.md §1: header only on v1.0


@pytest.mark.parametrize(
    "answer",
    [v1_error(400, "invalidClientIdOrSecret"), v1_error(400, "invalid.client")],
)
def test_bad_credentials_raise_auth_failed_without_the_secret(answer):
    with canned_server() as (url, canned), make_client(url) as client:
        canned.set(V1_TOKEN, answer)
        with pytest.raises(AuthFailed) as info:
            client.get_user("u1")
    assert APP_SECRET not in str(info.value) and APP_SECRET not in repr(info.value)
    assert canned.calls(GET) == []


def test_the_old_gettoken_is_used_when_the_new_token_endpoint_is_missing():
    with canned_server() as (url, canned), make_client(url) as client:
        # V1_TOKEN answers the documented unknown-path body (dingtalk-api.md §1, PROBE P12).
        canned.set(
            "/gettoken",
            (200, {"errcode": 0, "access_token": "old-style-token", "expires_in": 7200}),
        )
        canned.set(GET, ok(userid="u1"))
        client.get_user("u1")
        client.get_user("u1")
    (gettoken,) = canned.calls("/gettoken")
    assert gettoken.method == "GET"
    assert gettoken.query == {"appkey": [APP_KEY], "appsecret": [APP_SECRET]}
    assert [c.query["access_token"] for c in canned.calls(GET)] == [["old-style-token"]] * 2


def test_wrong_gettoken_credentials_raise_auth_failed():
    with canned_server() as (url, canned), make_client(url) as client:
        canned.set("/gettoken", oapi_error(40096))
        with pytest.raises(AuthFailed) as info:
            client.count_users()
    assert info.value.reason == "40096"


@pytest.mark.parametrize(
    "ban",
    [
        (200, {"status": 1111, "wait": 5, "source": "x5", "punish": "deny", "uuid": "x"}),
        (200, "<html><body>访问被拒绝</body></html>"),
        (403, "<html><body>denied</body></html>"),
    ],
)
def test_an_ip_ban_trips_the_breaker_until_the_window_passes(ban):
    clock = FakeClock()
    with canned_server() as (url, canned):
        canned.set(V1_TOKEN, TOKEN_OK)
        canned.set(GET, ban, ok(userid="u1"))
        with make_client(url, clock=clock, sleep=clock.sleep) as client:
            with pytest.raises(IpBanned) as first:
                client.get_user("u1")
            assert first.value.retry_after >= 300
            clock.advance(120)
            with pytest.raises(IpBanned) as second:
                client.get_user("u1")
            assert 170 <= second.value.retry_after <= 180
            assert len(canned.calls(GET)) == 1  # refused without touching the network
            clock.advance(second.value.retry_after + 1)
            assert client.get_user("u1")["userid"] == "u1"


def test_sequential_calls_reuse_one_token_and_send_comma_lists():
    with canned_server() as (url, canned), make_client(url) as client:
        canned.set(V1_TOKEN, TOKEN_OK)
        canned.set(CREATE, ok(userid="u1", unionid="un1"))
        canned.set("/topapi/role/addrolesforemps", (200, {"errcode": 0, "errmsg": "ok"}))
        created = client.create_user(
            {"userid": "u1", "name": "A", "mobile": "13800000000", "dept_id_list": [2, 3]}
        )
        client.add_roles_for_users([1, 2], ["a", "b"])
        assert created.unionid == "un1"  # the unionid spelling is accepted as well
    (token_call,) = canned.calls(V1_TOKEN)
    assert token_call.body == {"appKey": APP_KEY, "appSecret": APP_SECRET}
    (create,) = canned.calls(CREATE)
    assert create.headers["content-type"].startswith("application/json")
    assert create.body["dept_id_list"] == "2,3"
    assert create.query["access_token"] == [CANNED_TOKEN]
    (roles,) = canned.calls("/topapi/role/addrolesforemps")
    assert roles.body == {"roleIds": "1,2", "userIds": "a,b"}


def test_a_token_is_refreshed_about_five_minutes_before_it_expires():
    clock = FakeClock()
    with canned_server() as (url, canned):
        canned.set(V1_TOKEN, TOKEN_OK)
        canned.set(GET, ok(userid="u1"))
        with make_client(url, clock=clock, sleep=clock.sleep) as client:
            client.get_user("u1")
            clock.advance(7200 - 301)
            client.get_user("u1")
            assert len(canned.calls(V1_TOKEN)) == 1
            clock.advance(2)
            client.get_user("u1")
            assert len(canned.calls(V1_TOKEN)) == 2
            assert client.stats().auth_retries == 0


def test_secrets_and_tokens_never_reach_logs_or_exception_messages(caplog):
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    with canned_server() as (url, canned):
        canned.set(V1_TOKEN, TOKEN_OK)
        # The server even echoes the token and the secret in its message: they must be scrubbed.
        echo = {"errcode": 40035, "errmsg": f"bad {CANNED_TOKEN} {APP_SECRET}"}
        canned.set(GET, oapi_error(88, "40014"), ok(userid="u1"), (200, echo))
        # oapi on a closed port: the connection error text names the URL with access_token=…
        dead = "http://127.0.0.1:9"
        with make_client(url, sleep=FrozenSleep()) as client:
            client.get_user("u1")
            for call in (lambda: client.get_user("u1"),):
                try:
                    call()
                except DingTalkError as exc:
                    errors.append(exc)
        with make_client(url, oapi_url=dead, sleep=FrozenSleep(), connect_timeout=0.5) as client:
            try:
                client.get_user("u1")
            except DingTalkError as exc:
                errors.append(exc)
        with make_client(url, sleep=FrozenSleep()) as client:
            canned.set(V1_TOKEN, v1_error(400, "invalidClientIdOrSecret"))
            try:
                client.get_user("u1")
            except DingTalkError as exc:
                errors.append(exc)
        with make_client(url) as client:
            canned.set("/gettoken", oapi_error(40096))
            canned.set(V1_TOKEN, (200, {"errcode": 404, "errmsg": "请求的URI地址不存在"}))
            try:
                client.get_user("u1")
            except DingTalkError as exc:
                errors.append(exc)
    assert [type(e) for e in errors] == [DingTalkInvalid, Transient, AuthFailed, AuthFailed]
    texts = [caplog.text, *(str(e) for e in errors), *(repr(e) for e in errors)]
    texts += [repr(e.__cause__) for e in errors] + [repr(e.__context__) for e in errors]
    for text in texts:
        assert APP_SECRET not in text
        assert CANNED_TOKEN not in text
    # urllib3 did log the request lines, with the secrets masked.
    assert "access_token=***" in caplog.text
    assert "appsecret=***" in caplog.text


def test_client_repr_and_settings_never_show_the_secret():
    settings = Settings(dingtalk_app_key=APP_KEY, dingtalk_app_secret=APP_SECRET)
    with DingTalkClient.from_settings(settings) as client:
        assert APP_SECRET not in repr(client)
        assert client.oapi_url == "https://oapi.dingtalk.com"
        assert client.api_url == "https://api.dingtalk.com"
