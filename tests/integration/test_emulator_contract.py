"""Contract tests for the DingTalk emulator: every endpoint and error code, over real HTTP.

Each test states a rule of dingtalk-api.md (cited by section) and checks the emulator keeps it, so
the client can be tested against the emulator with confidence. The emulator's clock is frozen, so
token lifetimes and leave-record windows are driven without sleeping.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from scim_bridge.dingtalk.emulator import EmulatorConfig, RunningEmulator, start_emulator

APP_KEY = "contract-app-key"
APP_SECRET = "contract-app-secret"
CORP_ID = "dingcontractcorp"
ORG_NAME = "Contract Org"
START = 1_788_000_000.0  # 2026-08-29T10:40:00Z


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Api:
    """A thin caller of the emulator that knows nothing of our client."""

    def __init__(self, running: RunningEmulator, session: requests.Session) -> None:
        self.url = running.url
        self.emulator = running.emulator
        self.http = session
        self.token = self.gettoken()["access_token"]

    def gettoken(self, key: str = APP_KEY, secret: str = APP_SECRET) -> dict[str, Any]:
        resp = self.http.get(f"{self.url}/gettoken", params={"appkey": key, "appsecret": secret})
        assert resp.status_code == 200
        return resp.json()

    def top(
        self, path: str, body: dict[str, Any] | None = None, *, token: str | None = "", form=False
    ) -> dict[str, Any]:
        """POST an oapi call with ?access_token= (the current token unless told otherwise)."""
        params = {} if token is None else {"access_token": token or self.token}
        if form:
            data = {
                k: json.dumps(v) if isinstance(v, list | dict) else v
                for k, v in (body or {}).items()
            }
            resp = self.http.post(f"{self.url}{path}", params=params, data=data)
        else:
            resp = self.http.post(f"{self.url}{path}", params=params, json=body or {})
        assert resp.status_code == 200, resp.text  # oapi answers every error at HTTP 200 (§1)
        return resp.json()

    def ok(self, path: str, body: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        answer = self.top(path, body, **kw)
        assert answer["errcode"] == 0, answer
        return answer

    def v1(self, method: str, path: str, *, token: str | None = "", **kw: Any) -> requests.Response:
        headers = kw.pop("headers", {})
        if token is not None:
            headers["x-acs-dingtalk-access-token"] = token or self.token
        return self.http.request(method, f"{self.url}{path}", headers=headers, **kw)

    def dept(self, name: str, parent: int = 1, **extra: Any) -> int:
        body = {"name": name, "parent_id": parent, **extra}
        return int(self.ok("/topapi/v2/department/create", body)["result"]["dept_id"])

    def user(self, userid: str, n: int, depts: list[int] | None = None, **extra: Any) -> str:
        body = {
            "userid": userid,
            "name": f"User {n}",
            "mobile": mobile(n),
            "dept_id_list": ",".join(str(d) for d in (depts or [1])),
            **extra,
        }
        return str(self.ok("/topapi/v2/user/create", body)["result"]["userid"])

    def get_user(self, userid: str) -> dict[str, Any]:
        return self.ok("/topapi/v2/user/get", {"userid": userid})["result"]


def mobile(n: int) -> str:
    return f"138{n:08d}"


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def running(clock: FakeClock) -> Iterator[RunningEmulator]:
    config = EmulatorConfig(
        app_key=APP_KEY,
        app_secret=APP_SECRET,
        corp_id=CORP_ID,
        org_name=ORG_NAME,
        qps=0,
        clock=clock,
    )
    with start_emulator(config) as server:
        yield server


@pytest.fixture
def api(running: RunningEmulator, clock: FakeClock) -> Iterator[Api]:
    clock.now = START
    running.emulator.reset()
    running.emulator.configure(qps=0, fail_rate=0.0, latency=0.0, dept_name_clash_code=60008)
    with requests.Session() as session:
        yield Api(running, session)


# --- §2 tokens ---------------------------------------------------------------------------------


def test_gettoken_answers_a_token_valid_for_7200_seconds(api: Api) -> None:
    answer = api.gettoken()
    assert answer["errcode"] == 0
    assert answer["errmsg"] == "ok"
    assert answer["expires_in"] == 7200
    assert answer["access_token"]


def test_gettoken_while_valid_returns_the_same_token_and_extends_its_lifetime(
    api: Api, clock: FakeClock
) -> None:
    first = api.gettoken()["access_token"]
    clock.advance(7000)
    assert api.gettoken()["access_token"] == first
    clock.advance(7000)  # 14 000 s after issue, but only 7 000 s after the renewal
    assert api.ok("/topapi/user/count", {"only_active": False}, token=first)


def test_gettoken_after_expiry_issues_a_new_token_and_the_old_one_answers_42001(
    api: Api, clock: FakeClock
) -> None:
    old = api.gettoken()["access_token"]
    clock.advance(7201)
    answer = api.top("/topapi/user/count", {"only_active": False}, token=old)
    assert (answer["errcode"], answer["sub_code"]) == (88, "42001")
    new = api.gettoken()["access_token"]
    assert new != old
    api.ok("/topapi/user/count", {"only_active": False}, token=new)


def test_gettoken_with_a_wrong_secret_answers_40096_unwrapped(api: Api) -> None:
    answer = api.gettoken(secret="wrong")
    assert answer["errcode"] == 40096
    assert "sub_code" not in answer


def test_gettoken_without_parameters_answers_40035(api: Api) -> None:
    answer = api.http.get(f"{api.url}/gettoken").json()
    assert answer["errcode"] == 40035


def test_v1_access_token_answers_camel_case_fields_and_shares_the_oapi_token(api: Api) -> None:
    resp = api.http.post(
        f"{api.url}/v1.0/oauth2/accessToken", json={"appKey": APP_KEY, "appSecret": APP_SECRET}
    )
    assert resp.status_code == 200
    assert resp.json() == {"accessToken": api.token, "expireIn": 7200}


def test_v1_access_token_with_a_wrong_secret_answers_400_invalid_client_id_or_secret(
    api: Api,
) -> None:
    resp = api.http.post(
        f"{api.url}/v1.0/oauth2/accessToken", json={"appKey": APP_KEY, "appSecret": "nope"}
    )
    assert resp.status_code == 400
    body = resp.json()
    assert body["code"] == "invalidClientIdOrSecret"
    assert set(body) == {"code", "message", "requestid"}


@pytest.mark.parametrize(
    ("corp", "body", "status", "code"),
    [
        (CORP_ID, {"client_id": APP_KEY, "client_secret": "x"}, 400, "invalid.client"),
        (CORP_ID, {"client_id": APP_KEY, "client_secret": APP_SECRET, "grant_type": "password"},
         400, "unsupported.grant.type"),
        ("dingunknown", {"client_id": APP_KEY, "client_secret": APP_SECRET}, 500, "unknownError"),
    ],
)  # fmt: skip
def test_corp_token_refusals_answer_documented_v1_codes(
    api: Api, corp: str, body: dict[str, str], status: int, code: str
) -> None:
    body = {"grant_type": "client_credentials", **body}
    resp = api.http.post(f"{api.url}/v1.0/oauth2/{corp}/token", json=body)
    assert (resp.status_code, resp.json()["code"]) == (status, code)


def test_corp_token_with_client_credentials_answers_snake_case_token(api: Api) -> None:
    body = {"client_id": APP_KEY, "client_secret": APP_SECRET, "grant_type": "client_credentials"}
    resp = api.http.post(f"{api.url}/v1.0/oauth2/{CORP_ID}/token", json=body)
    assert resp.status_code == 200
    assert resp.json() == {"access_token": api.token, "expires_in": 7200}


# --- §1/§2.3 envelopes and token refusals ------------------------------------------------------


def test_success_envelope_carries_errcode_0_errmsg_ok_result_and_request_id(api: Api) -> None:
    answer = api.ok("/topapi/user/count", {"only_active": False})
    assert set(answer) == {"errcode", "errmsg", "result", "request_id"}
    assert answer["errmsg"] == "ok"
    assert answer["result"] == {"count": 0}


def test_topapi_without_a_token_answers_88_with_string_sub_code_40000(api: Api) -> None:
    answer = api.top("/topapi/v2/user/get", {"userid": "x"}, token=None)
    assert answer["errcode"] == 88
    assert answer["sub_code"] == "40000"
    assert answer["errmsg"].startswith("ding talk error[subcode=40000,submsg=")


def test_topapi_with_an_invalid_token_answers_88_with_sub_code_40014(api: Api) -> None:
    answer = api.top("/topapi/v2/user/get", {"userid": "x"}, token="forged")
    assert (answer["errcode"], answer["sub_code"]) == (88, "40014")
    assert answer["errmsg"] == f"ding talk error[subcode=40014,submsg={answer['sub_msg']}]"
    assert answer["request_id"]


def test_topapi_with_an_expired_token_answers_88_with_sub_code_42001(api: Api) -> None:
    api.emulator.expire_tokens()
    answer = api.top("/topapi/v2/user/get", {"userid": "x"})
    assert (answer["errcode"], answer["sub_code"]) == (88, "42001")


@pytest.mark.parametrize(
    ("token", "errcode"), [(None, 41001), ("forged", 40014), ("expired", 42001)]
)
def test_legacy_paths_answer_token_errors_at_top_level(
    api: Api, token: str | None, errcode: int
) -> None:
    if token == "expired":
        api.emulator.expire_tokens()
        token = api.token
    answer = api.top("/role/add_role_group", {"name": "G"}, token=token)
    assert answer["errcode"] == errcode
    assert "sub_code" not in answer


def test_token_in_a_form_body_is_accepted_on_oapi(api: Api) -> None:
    resp = api.http.post(
        f"{api.url}/topapi/user/count", data={"access_token": api.token, "only_active": "false"}
    )
    assert resp.json()["errcode"] == 0


def test_token_in_a_json_body_is_not_read(api: Api) -> None:
    resp = api.http.post(
        f"{api.url}/topapi/user/count", json={"access_token": api.token, "only_active": False}
    )
    assert resp.json()["sub_code"] == "40000"


def test_unknown_topapi_method_answers_22_before_checking_the_token(api: Api) -> None:
    answer = api.top("/topapi/v2/user/nosuch", {}, token=None)
    assert answer["errcode"] == 22
    assert "dingtalk.oapi.v2.user.nosuch" in answer["sub_msg"]


@pytest.mark.parametrize(
    "path", ["/user/nosuch", "/v1.0/contact/nosuch", "/oauth2/corpAccessToken"]
)
def test_unknown_paths_answer_http_200_errcode_404(api: Api, path: str) -> None:
    resp = api.http.post(f"{api.url}{path}", params={"access_token": api.token}, json={})
    assert resp.status_code == 200
    assert resp.json() == {"errcode": 404, "errmsg": "请求的URI地址不存在"}


def test_unparseable_json_body_answers_47001(api: Api) -> None:
    resp = api.http.post(
        f"{api.url}/topapi/v2/user/get",
        params={"access_token": api.token},
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert resp.json()["errcode"] == 47001


def test_v1_without_the_header_answers_400_missing_parameter(api: Api) -> None:
    resp = api.v1("GET", "/v1.0/contact/empLeaveRecords", token=None)
    assert resp.status_code == 400
    assert resp.json()["code"] == "AuthenticationFailed.MissingParameter"


@pytest.mark.parametrize("where", ["query", "bearer"])
def test_v1_token_outside_its_header_answers_400_missing_parameter(api: Api, where: str) -> None:
    kw: dict[str, Any] = {"params": {"startTime": "2026-08-01T00:00:00Z", "maxResults": 5}}
    if where == "query":
        kw["params"]["access_token"] = api.token
    else:
        kw["headers"] = {"Authorization": f"Bearer {api.token}"}
    resp = api.v1("GET", "/v1.0/contact/empLeaveRecords", token=None, **kw)
    assert (resp.status_code, resp.json()["code"]) == (400, "AuthenticationFailed.MissingParameter")


@pytest.mark.parametrize("token", ["forged", "expired"])
def test_v1_bad_or_expired_token_answers_400_invalid_authentication(api: Api, token: str) -> None:
    if token == "expired":
        api.emulator.expire_tokens()
        token = api.token
    resp = api.v1("GET", "/v1.0/contact/empLeaveRecords", token=token)
    assert (resp.status_code, resp.json()["code"]) == (400, "InvalidAuthentication")


# --- §3 users ----------------------------------------------------------------------------------


def test_create_user_answers_userid_and_camel_case_union_id(api: Api) -> None:
    answer = api.ok(
        "/topapi/v2/user/create",
        {"userid": "ann", "name": "Ann", "mobile": mobile(1), "dept_id_list": "1"},
    )
    assert set(answer["result"]) == {"userid", "unionId"}
    assert answer["result"]["userid"] == "ann"
    assert api.get_user("ann")["unionid"] == answer["result"]["unionId"]


def test_create_user_without_userid_generates_one(api: Api) -> None:
    body = {"name": "Bo", "mobile": mobile(2), "dept_id_list": "1"}
    userid = api.ok("/topapi/v2/user/create", body)["result"]["userid"]
    assert 1 <= len(userid) <= 64
    assert api.get_user(userid)["name"] == "Bo"


def test_get_user_returns_documented_fields_and_omits_empty_ones(api: Api) -> None:
    dept = api.dept("Eng")
    api.user("ann", 1, [1, dept], title="Engineer", email="ann@example.com")
    user = api.get_user("ann")
    assert user["dept_id_list"] == [1, dept]
    assert user["title"] == "Engineer"
    assert user["email"] == "ann@example.com"
    assert user["state_code"] == "86"
    assert user["active"] is False
    assert user["role_list"] == []
    assert user["leader_in_dept"] == [
        {"dept_id": 1, "leader": False},
        {"dept_id": dept, "leader": False},
    ]
    for omitted in ("manager_userid", "work_place", "remark", "extension", "hired_date"):
        assert omitted not in user


def test_create_user_accepts_a_json_array_dept_id_list(api: Api) -> None:
    dept = api.dept("Eng")
    body = {"userid": "ann", "name": "Ann", "mobile": mobile(1), "dept_id_list": [dept]}
    api.ok("/topapi/v2/user/create", body)
    assert api.get_user("ann")["dept_id_list"] == [dept]


def test_create_user_accepts_a_form_body_with_json_text_fields(api: Api) -> None:
    dept = api.dept("Eng")
    body = {
        "userid": "ann",
        "name": "Ann",
        "mobile": "+852-98765432",
        "dept_id_list": f"1,{dept}",
        "extension": {"hobby": "go"},
        "dept_order_list": [{"dept_id": dept, "order": 5}],
        "hide_mobile": "true",
        "hired_date": "1700000000000",
    }
    api.ok("/topapi/v2/user/create", body, form=True)
    user = api.get_user("ann")
    assert user["state_code"] == "852"
    assert json.loads(user["extension"]) == {"hobby": "go"}
    assert user["dept_order_list"] == [{"dept_id": dept, "order": 5}]
    assert user["hide_mobile"] is True
    assert user["hired_date"] == 1_700_000_000_000


@pytest.mark.parametrize(
    ("change", "errcode"),
    [
        ({"name": None}, 40035),
        ({"name": "x" * 81}, 60112),
        ({"mobile": None}, 40035),
        ({"mobile": "12345"}, 60103),
        ({"mobile": "+86-12345"}, 60103),
        ({"dept_id_list": None}, 40035),
        ({"dept_id_list": "999"}, 60003),
        ({"dept_id_list": "1,abc"}, 40066),
        ({"userid": "u" * 65}, 40003),
        ({"email": "not-an-email"}, 60105),
        ({"email": "a" * 45 + "@x.com"}, 60105),
        ({"title": "t" * 201}, 60119),
        ({"job_number": "j" * 51}, 60123),
        ({"work_place": "w" * 101}, 40064),
        ({"remark": "r" * 2001}, 40065),
        ({"telephone": "t" * 51}, 40035),
        ({"extension": "not json"}, 40063),
        ({"extension": "[1, 2]"}, 40063),
        ({"extension": json.dumps({"k": "v" * 2000})}, 40063),
        ({"manager_userid": "ghost"}, 60128),
        ({"hired_date": 0}, 40035),
        ({"org_email_type": "other"}, 40035),
    ],
)
def test_create_user_with_invalid_field_answers_documented_errcode(
    api: Api, change: dict[str, Any], errcode: int
) -> None:
    body: dict[str, Any] = {
        "userid": "ann",
        "name": "Ann",
        "mobile": mobile(1),
        "dept_id_list": "1",
    }
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    assert api.top("/topapi/v2/user/create", body)["errcode"] == errcode
    assert api.emulator.users() == {}


def test_create_user_with_more_than_100_departments_answers_60110(api: Api) -> None:
    api.emulator.load({"departments": [{"dept_id": 10 + i, "name": f"D{i}"} for i in range(101)]})
    body = {"name": "Ann", "mobile": mobile(1), "dept_id_list": [10 + i for i in range(101)]}
    assert api.top("/topapi/v2/user/create", body)["errcode"] == 60110


def test_create_user_with_taken_userid_answers_60102(api: Api) -> None:
    api.user("ann", 1)
    body = {"userid": "ann", "name": "Other", "mobile": mobile(2), "dept_id_list": "1"}
    assert api.top("/topapi/v2/user/create", body)["errcode"] == 60102


@pytest.mark.parametrize("same_number", [mobile(1), f"+86-{mobile(1)}"])
def test_create_user_with_taken_mobile_answers_60104(api: Api, same_number: str) -> None:
    api.user("ann", 1)
    body = {"userid": "bob", "name": "Bob", "mobile": same_number, "dept_id_list": "1"}
    assert api.top("/topapi/v2/user/create", body)["errcode"] == 60104


@pytest.mark.parametrize(
    ("field", "value", "errcode"),
    [("email", "same@example.com", 60106), ("telephone", "8001", 40100)],
)
def test_create_user_with_taken_unique_field_answers_its_errcode(
    api: Api, field: str, value: str, errcode: int
) -> None:
    api.user("ann", 1, **{field: value})
    body = {"userid": "bob", "name": "Bob", "mobile": mobile(2), "dept_id_list": "1", field: value}
    assert api.top("/topapi/v2/user/create", body)["errcode"] == errcode


def test_update_user_changes_only_the_fields_sent(api: Api) -> None:
    api.user("ann", 1, title="Engineer", email="ann@example.com")
    answer = api.ok("/topapi/v2/user/update", {"userid": "ann", "title": "Lead"})
    assert "result" not in answer
    user = api.get_user("ann")
    assert (user["title"], user["email"], user["name"]) == ("Lead", "ann@example.com", "User 1")


def test_update_unknown_user_answers_60121(api: Api) -> None:
    assert api.top("/topapi/v2/user/update", {"userid": "ghost", "title": "x"})["errcode"] == 60121


def test_update_user_without_userid_answers_40035(api: Api) -> None:
    assert api.top("/topapi/v2/user/update", {"title": "x"})["errcode"] == 40035


def test_update_user_with_one_invalid_field_changes_nothing(api: Api) -> None:
    api.user("ann", 1, title="Engineer")
    answer = api.top("/topapi/v2/user/update", {"userid": "ann", "title": "Lead", "email": "bad"})
    assert answer["errcode"] == 60105
    assert api.get_user("ann")["title"] == "Engineer"


def test_update_user_accepts_300_departments_but_not_301(api: Api) -> None:
    api.emulator.load({"departments": [{"dept_id": 10 + i, "name": f"D{i}"} for i in range(301)]})
    api.user("ann", 1)
    ids = [10 + i for i in range(301)]
    api.ok("/topapi/v2/user/update", {"userid": "ann", "dept_id_list": ids[:300]})
    answer = api.top("/topapi/v2/user/update", {"userid": "ann", "dept_id_list": ids})
    assert answer["errcode"] == 60110


def test_update_extension_replaces_the_map_unless_append_mode(api: Api) -> None:
    api.user("ann", 1, extension=json.dumps({"a": "1", "b": "2"}))
    api.ok("/topapi/v2/user/update", {"userid": "ann", "extension": json.dumps({"c": "3"})})
    assert json.loads(api.get_user("ann")["extension"]) == {"c": "3"}
    body = {"userid": "ann", "extension": json.dumps({"d": "4"}), "ext_attrs_update_mode": 1}
    api.ok("/topapi/v2/user/update", body)
    assert json.loads(api.get_user("ann")["extension"]) == {"c": "3", "d": "4"}


def test_force_update_fields_clears_the_manager(api: Api) -> None:
    api.user("boss", 1)
    api.user("ann", 2, manager_userid="boss")
    assert api.get_user("ann")["manager_userid"] == "boss"
    api.ok("/topapi/v2/user/update", {"userid": "ann", "title": "x"})
    assert api.get_user("ann")["manager_userid"] == "boss"  # not sent: unchanged
    api.ok("/topapi/v2/user/update", {"userid": "ann", "force_update_fields": "manager_userid"})
    assert "manager_userid" not in api.get_user("ann")


def test_update_manager_to_self_answers_60128(api: Api) -> None:
    api.user("ann", 1)
    answer = api.top("/topapi/v2/user/update", {"userid": "ann", "manager_userid": "ann"})
    assert answer["errcode"] == 60128


def test_update_mobile_to_a_taken_number_answers_60104(api: Api) -> None:
    api.user("ann", 1)
    api.user("bob", 2)
    answer = api.top("/topapi/v2/user/update", {"userid": "bob", "mobile": mobile(1)})
    assert answer["errcode"] == 60104


def test_update_mobile_of_an_activated_user_answers_41054(api: Api) -> None:
    api.emulator.load(
        {"users": [{"userid": "ann", "name": "Ann", "mobile": mobile(1), "active": True}]}
    )
    answer = api.top("/topapi/v2/user/update", {"userid": "ann", "mobile": mobile(9)})
    assert answer["errcode"] == 41054
    api.ok("/topapi/v2/user/update", {"userid": "ann", "mobile": mobile(1)})  # same number: fine


def test_update_mobile_of_an_inactive_user_is_applied(api: Api) -> None:
    api.user("ann", 1)
    api.ok("/topapi/v2/user/update", {"userid": "ann", "mobile": "+1-5551234567"})
    user = api.get_user("ann")
    assert (user["mobile"], user["state_code"]) == ("+1-5551234567", "1")


def test_delete_user_removes_it_and_a_second_delete_answers_60121(api: Api) -> None:
    api.user("ann", 1)
    answer = api.ok("/topapi/v2/user/delete", {"userid": "ann"})
    assert "result" not in answer
    assert api.top("/topapi/v2/user/get", {"userid": "ann"})["errcode"] == 60121
    assert api.top("/topapi/v2/user/delete", {"userid": "ann"})["errcode"] == 60121


def test_delete_manager_clears_reports_manager_and_dept_manager_lists(api: Api) -> None:
    dept = api.dept("Eng")
    api.user("boss", 1, [dept])
    api.user("ann", 2, [dept], manager_userid="boss")
    api.ok("/topapi/v2/department/update", {"dept_id": dept, "dept_manager_userid_list": "boss"})
    api.ok("/topapi/v2/user/delete", {"userid": "boss"})
    assert "manager_userid" not in api.get_user("ann")
    dept_info = api.ok("/topapi/v2/department/get", {"dept_id": dept})["result"]
    assert dept_info["dept_manager_userid_list"] == []


def test_get_unknown_user_answers_60121(api: Api) -> None:
    assert api.top("/topapi/v2/user/get", {"userid": "ghost"})["errcode"] == 60121


def test_listid_answers_direct_members_only(api: Api) -> None:
    eng = api.dept("Eng")
    sub = api.dept("Backend", eng)
    api.user("ann", 1, [eng])
    api.user("bob", 2, [sub])
    answer = api.ok("/topapi/user/listid", {"dept_id": eng})
    assert answer["result"] == {"userid_list": ["ann"]}
    assert api.top("/topapi/user/listid", {"dept_id": 999})["errcode"] == 60003


def test_user_list_pages_with_cursor_and_size(api: Api) -> None:
    for n in range(5):
        api.user(f"u{n}", n)
    first = api.ok("/topapi/v2/user/list", {"dept_id": 1, "cursor": 0, "size": 2})["result"]
    assert first["has_more"] is True
    assert first["next_cursor"] == 2
    seen = [row["userid"] for row in first["list"]]
    cursor = first["next_cursor"]
    while True:
        page = api.ok("/topapi/v2/user/list", {"dept_id": 1, "cursor": cursor, "size": 2})
        seen += [row["userid"] for row in page["result"]["list"]]
        if not page["result"]["has_more"]:
            assert "next_cursor" not in page["result"]
            break
        cursor = page["result"]["next_cursor"]
    assert seen == [f"u{n}" for n in range(5)]
    row = first["list"][0]
    assert {"userid", "unionid", "name", "mobile", "dept_id_list", "dept_order", "leader"} <= set(
        row
    )


def test_user_list_sorts_custom_order_highest_first(api: Api) -> None:
    api.user("low", 1, dept_order_list=[{"dept_id": 1, "order": 1}])
    api.user("high", 2, dept_order_list=[{"dept_id": 1, "order": 9}])
    page = api.ok("/topapi/v2/user/list", {"dept_id": 1, "cursor": 0, "size": 10})["result"]
    assert [row["userid"] for row in page["list"]] == ["high", "low"]
    assert page["list"][0]["dept_order"] == 9


@pytest.mark.parametrize(
    "change",
    [
        {"size": 0},
        {"size": 101},
        {"cursor": -1},
        {"cursor": 100_001},
        {"cursor": None},
        {"order_field": "name"},
    ],
)
def test_user_list_with_bad_paging_answers_40035(api: Api, change: dict[str, Any]) -> None:
    body: dict[str, Any] = {"dept_id": 1, "cursor": 0, "size": 10, **change}
    body = {k: v for k, v in body.items() if v is not None}
    assert api.top("/topapi/v2/user/list", body)["errcode"] == 40035
    assert api.top("/topapi/user/listsimple", body)["errcode"] == 40035


def test_user_list_of_unknown_department_answers_60003(api: Api) -> None:
    answer = api.top("/topapi/v2/user/list", {"dept_id": 999, "cursor": 0, "size": 10})
    assert answer["errcode"] == 60003


def test_listsimple_answers_userid_and_name(api: Api) -> None:
    api.user("ann", 1)
    page = api.ok("/topapi/user/listsimple", {"dept_id": 1, "cursor": 0, "size": 10})["result"]
    assert page == {"has_more": False, "list": [{"userid": "ann", "name": "User 1"}]}


def test_count_counts_users_and_only_active_ones_on_request(api: Api) -> None:
    api.emulator.load(
        {
            "users": [
                {"userid": "a", "name": "A", "mobile": mobile(1), "active": True},
                {"userid": "b", "name": "B", "mobile": mobile(2)},
            ]
        }
    )
    assert api.ok("/topapi/user/count", {"only_active": False})["result"] == {"count": 2}
    assert api.ok("/topapi/user/count", {"only_active": True})["result"] == {"count": 1}
    assert api.top("/topapi/user/count", {})["errcode"] == 40035


def test_getbymobile_finds_the_user_or_answers_60121_or_40104(api: Api) -> None:
    api.user("ann", 1)
    answer = api.ok("/topapi/v2/user/getbymobile", {"mobile": mobile(1)})
    assert answer["result"] == {"userid": "ann"}
    assert api.top("/topapi/v2/user/getbymobile", {"mobile": mobile(2)})["errcode"] == 60121
    assert api.top("/topapi/v2/user/getbymobile", {"mobile": "abc"})["errcode"] == 40104


def test_getbyunionid_finds_the_user_or_answers_60121(api: Api) -> None:
    api.user("ann", 1)
    unionid = api.get_user("ann")["unionid"]
    answer = api.ok("/topapi/user/getbyunionid", {"unionid": unionid})
    assert answer["result"] == {"contact_type": 0, "userid": "ann"}
    assert api.top("/topapi/user/getbyunionid", {"unionid": "nope"})["errcode"] == 60121


# --- §4 departments ----------------------------------------------------------------------------


def test_root_department_exists_and_is_named_after_the_org(api: Api) -> None:
    root = api.ok("/topapi/v2/department/get", {"dept_id": 1})["result"]
    assert root["dept_id"] == 1
    assert root["name"] == ORG_NAME


def test_create_department_assigns_fresh_ids_that_are_never_reused(api: Api) -> None:
    first = api.dept("A")
    assert first != 1
    api.ok("/topapi/v2/department/delete", {"dept_id": first})
    second = api.dept("A")
    assert second not in (1, first)


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        ({"parent_id": 1}, 40035),
        ({"name": "x" * 65, "parent_id": 1}, 60001),
        ({"name": "R-D", "parent_id": 1}, 60009),
        ({"name": "R,D", "parent_id": 1}, 60009),
        ({"name": "R，D", "parent_id": 1}, 60009),
        ({"name": "Eng"}, 40035),
        ({"name": "Eng", "parent_id": 999}, 60004),
        ({"name": "Eng", "parent_id": 1, "order": "first"}, 40011),
        ({"name": "Eng", "parent_id": 1, "dept_permits": list(range(2, 53))}, 600109),
    ],
)
def test_create_department_with_invalid_fields_answers_documented_errcode(
    api: Api, body: dict[str, Any], errcode: int
) -> None:
    assert api.top("/topapi/v2/department/create", body)["errcode"] == errcode


def test_create_department_with_a_sibling_name_answers_60008_by_default(api: Api) -> None:
    api.dept("Eng")
    assert api.top("/topapi/v2/department/create", {"name": "Eng", "parent_id": 1})["errcode"] == (
        60008
    )
    api.dept("Eng", api.dept("Other"))  # same name under another parent is fine


def test_create_department_name_clash_code_is_configurable_to_60021(api: Api) -> None:
    api.emulator.configure(dept_name_clash_code=60021)
    api.dept("Eng")
    answer = api.top("/topapi/v2/department/create", {"name": "Eng", "parent_id": 1})
    assert answer["errcode"] == 60021


def test_get_department_counts_direct_and_nested_members(api: Api) -> None:
    eng = api.dept("Eng", source_identifier="scim-1")
    sub = api.dept("Backend", eng)
    api.user("ann", 1, [eng])
    api.user("bob", 2, [sub, eng])
    api.user("cy", 3, [sub])
    info = api.ok("/topapi/v2/department/get", {"dept_id": eng})["result"]
    assert (info["member_count"], info["owning_member_count"]) == (3, 2)
    assert info["parent_id"] == 1
    assert info["source_identifier"] == "scim-1"
    assert api.top("/topapi/v2/department/get", {"dept_id": 999})["errcode"] == 60003


def test_update_department_changes_only_the_fields_sent(api: Api) -> None:
    eng = api.dept("Eng", order=5, source_identifier="scim-1")
    api.ok("/topapi/v2/department/update", {"dept_id": eng, "name": "Engineering"})
    info = api.ok("/topapi/v2/department/get", {"dept_id": eng})["result"]
    assert (info["name"], info["order"], info["source_identifier"]) == ("Engineering", 5, "scim-1")


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        ({"dept_id": 1, "name": "Root"}, 60018),
        ({"dept_id": 999, "name": "X"}, 60003),
        ({"dept_id": "abc"}, 40009),
        ({"name": "X"}, 40035),
    ],
)
def test_update_department_refusals_answer_documented_errcode(
    api: Api, body: dict[str, Any], errcode: int
) -> None:
    assert api.top("/topapi/v2/department/update", body)["errcode"] == errcode


def test_update_department_moves_it_and_refuses_cycles_and_missing_parents(api: Api) -> None:
    a = api.dept("A")
    b = api.dept("B", a)
    c = api.dept("C")
    api.ok("/topapi/v2/department/update", {"dept_id": c, "parent_id": b})
    assert api.ok("/topapi/v2/department/listparentbydept", {"dept_id": c})["result"] == {
        "parent_id_list": [c, b, a, 1]
    }
    assert api.top("/topapi/v2/department/update", {"dept_id": a, "parent_id": c})["errcode"] == (
        60010
    )
    assert api.top("/topapi/v2/department/update", {"dept_id": a, "parent_id": a})["errcode"] == (
        60010
    )
    assert api.top("/topapi/v2/department/update", {"dept_id": a, "parent_id": 999})["errcode"] == (
        60004
    )


def test_update_department_rename_to_a_sibling_name_answers_the_clash_code(api: Api) -> None:
    api.dept("A")
    b = api.dept("B")
    assert api.top("/topapi/v2/department/update", {"dept_id": b, "name": "A"})["errcode"] == 60008


def test_department_managers_must_be_members_and_force_update_clears_them(api: Api) -> None:
    eng = api.dept("Eng")
    api.user("ann", 1, [eng])
    api.user("bob", 2, [1])
    answer = api.top(
        "/topapi/v2/department/update", {"dept_id": eng, "dept_manager_userid_list": "ann,bob"}
    )
    assert answer["errcode"] == 40031
    api.ok("/topapi/v2/department/update", {"dept_id": eng, "dept_manager_userid_list": "ann"})
    assert api.get_user("ann")["leader_in_dept"] == [{"dept_id": eng, "leader": True}]
    api.ok("/topapi/v2/department/update", {"dept_id": eng, "name": "Eng2"})
    info = api.ok("/topapi/v2/department/get", {"dept_id": eng})["result"]
    assert info["dept_manager_userid_list"] == ["ann"]  # not sent: unchanged
    api.ok(
        "/topapi/v2/department/update",
        {"dept_id": eng, "force_update_fields": "dept_manager_userid_list"},
    )
    info = api.ok("/topapi/v2/department/get", {"dept_id": eng})["result"]
    assert info["dept_manager_userid_list"] == []


def test_department_owner_must_be_a_member(api: Api) -> None:
    eng = api.dept("Eng")
    api.user("ann", 1, [1])
    answer = api.top("/topapi/v2/department/update", {"dept_id": eng, "org_dept_owner": "ann"})
    assert answer["errcode"] == 40093


def test_update_department_visibility_over_50_answers_60109(api: Api) -> None:
    eng = api.dept("Eng")
    body = {"dept_id": eng, "user_permits": ",".join(f"u{n}" for n in range(51))}
    assert api.top("/topapi/v2/department/update", body)["errcode"] == 60109


@pytest.mark.parametrize(
    ("setup", "errcode"),
    [("root", 60007), ("unknown", 60003), ("member_below", 60005), ("child", 60006)],
)
def test_delete_department_refusals_answer_documented_errcode(
    api: Api, setup: str, errcode: int
) -> None:
    eng = api.dept("Eng")
    target = {"root": 1, "unknown": 999}.get(setup, eng)
    if setup in ("member_below", "child"):
        sub = api.dept("Backend", eng)
        if setup == "member_below":
            api.user("ann", 1, [sub])
    assert api.top("/topapi/v2/department/delete", {"dept_id": target})["errcode"] == errcode


def test_delete_empty_department_removes_it(api: Api) -> None:
    eng = api.dept("Eng")
    assert "result" not in api.ok("/topapi/v2/department/delete", {"dept_id": eng})
    assert api.top("/topapi/v2/department/get", {"dept_id": eng})["errcode"] == 60003


def test_listsub_and_listsubid_answer_one_level_in_order(api: Api) -> None:
    b = api.dept("B", order=2)
    a = api.dept("A", order=1)
    api.dept("Deep", a)
    listed = api.ok("/topapi/v2/department/listsub", {"dept_id": 1})["result"]
    assert [d["dept_id"] for d in listed] == [a, b]
    assert set(listed[0]) == {"dept_id", "name", "parent_id", "create_dept_group", "auto_add_user"}
    assert api.ok("/topapi/v2/department/listsub", {})["result"] == listed  # default: root
    ids = api.ok("/topapi/v2/department/listsubid", {"dept_id": 1})["result"]
    assert ids == {"dept_id_list": [a, b]}
    assert api.top("/topapi/v2/department/listsub", {"dept_id": 999})["errcode"] == 60003
    assert api.top("/topapi/v2/department/listsubid", {"dept_id": 999})["errcode"] == 60003


def test_listparentbydept_of_root_is_just_root_and_unknown_answers_60003(api: Api) -> None:
    assert api.ok("/topapi/v2/department/listparentbydept", {"dept_id": 1})["result"] == {
        "parent_id_list": [1]
    }
    answer = api.top("/topapi/v2/department/listparentbydept", {"dept_id": 999})
    assert answer["errcode"] == 60003


def test_listparentbyuser_lists_each_department_chain_or_answers_33012(api: Api) -> None:
    eng = api.dept("Eng")
    sub = api.dept("Backend", eng)
    api.user("ann", 1, [sub, 1])
    answer = api.ok("/topapi/v2/department/listparentbyuser", {"userid": "ann"})
    assert answer["result"] == {
        "parent_list": [{"parent_dept_id_list": [sub, eng, 1]}, {"parent_dept_id_list": [1]}]
    }
    assert api.top("/topapi/v2/department/listparentbyuser", {"userid": "x"})["errcode"] == 33012


# --- §5 roles ----------------------------------------------------------------------------------


def _role_group_and_role(api: Api) -> tuple[int, int]:
    group = api.ok("/role/add_role_group", {"name": "SCIM"})["groupId"]
    role = api.ok("/role/add_role", {"roleName": "Admins", "groupId": group})["roleId"]
    return int(group), int(role)


def _system_role(api: Api) -> int:
    groups = api.ok("/topapi/role/list", {"size": 200})["result"]["list"]
    default = next(g for g in groups if g["name"] == "默认")
    return int(default["roles"][0]["id"])


def test_role_group_and_role_creation_answer_top_level_ids(api: Api) -> None:
    group, role = _role_group_and_role(api)
    assert api.ok("/topapi/role/getrole", {"roleId": role})["role"] == {
        "name": "Admins",
        "groupId": group,
    }
    assert api.ok("/topapi/role/getrolegroup", {"group_id": group})["role_group"] == {
        "group_name": "SCIM",
        "roles": [{"role_id": role, "role_name": "Admins"}],
    }


def test_role_list_pages_groups_with_their_roles(api: Api) -> None:
    group, role = _role_group_and_role(api)
    page = api.ok("/topapi/role/list", {"size": 1, "offset": 0})["result"]
    assert page["hasMore"] is True
    assert page["list"][0]["name"] == "默认"  # the built-in group comes first
    page = api.ok("/topapi/role/list", {"size": 1, "offset": 1})["result"]
    assert page == {
        "hasMore": False,
        "list": [{"groupId": group, "name": "SCIM", "roles": [{"id": role, "name": "Admins"}]}],
    }


@pytest.mark.parametrize(
    ("body", "errcode"), [({"size": 0}, 40069), ({"size": 201}, 40069), ({"offset": -1}, 40068)]
)
def test_role_list_with_bad_paging_answers_documented_errcode(
    api: Api, body: dict[str, int], errcode: int
) -> None:
    assert api.top("/topapi/role/list", body)["errcode"] == errcode


def test_add_role_refusals_answer_34018_34020_34021(api: Api) -> None:
    group, _role = _role_group_and_role(api)
    assert api.top("/role/add_role", {"groupId": group})["errcode"] == 34018
    assert api.top("/role/add_role", {"roleName": "X", "groupId": 42})["errcode"] == 34020
    assert api.top("/role/add_role", {"roleName": "Admins", "groupId": group})["errcode"] == 34021


def test_add_role_group_without_name_answers_40035(api: Api) -> None:
    assert api.top("/role/add_role_group", {})["errcode"] == 40035


def test_update_role_renames_and_refuses_bad_input(api: Api) -> None:
    group, role = _role_group_and_role(api)
    api.ok("/role/update_role", {"roleId": role, "roleName": "Owners"})
    assert api.ok("/topapi/role/getrole", {"roleId": role})["role"]["name"] == "Owners"
    assert api.top("/role/update_role", {"roleId": role})["errcode"] == 660000
    assert api.top("/role/update_role", {"roleId": 42, "roleName": "X"})["errcode"] == 33011
    system = _system_role(api)
    assert api.top("/role/update_role", {"roleId": system, "roleName": "X"})["errcode"] == 23004
    other = api.ok("/role/add_role", {"roleName": "Other", "groupId": group})["roleId"]
    assert api.top("/role/update_role", {"roleId": other, "roleName": "Owners"})["errcode"] == (
        34021
    )


def test_assigning_roles_shows_them_in_user_get_and_simplelist(api: Api) -> None:
    _group, role = _role_group_and_role(api)
    api.user("ann", 1)
    api.user("bob", 2)
    api.ok("/topapi/role/addrolesforemps", {"roleIds": str(role), "userIds": "ann,bob"})
    assert api.get_user("ann")["role_list"] == [
        {"id": role, "name": "Admins", "group_name": "SCIM"}
    ]
    page = api.ok("/topapi/role/simplelist", {"role_id": role, "size": 1})["result"]
    assert page == {
        "hasMore": True,
        "list": [{"userid": "ann", "name": "User 1", "manageScopes": []}],
    }
    api.ok("/topapi/role/removerolesforemps", {"roleIds": [role], "userIds": ["ann"]})
    assert api.get_user("ann")["role_list"] == []
    assert api.get_user("bob")["role_list"] != []


@pytest.mark.parametrize(
    ("path", "roles", "users", "errcode"),
    [
        ("/topapi/role/addrolesforemps", 21, 1, 40035),
        ("/topapi/role/addrolesforemps", 1, 21, 40035),
        ("/topapi/role/removerolesforemps", 21, 1, 40035),
        ("/topapi/role/removerolesforemps", 1, 101, 40035),
        ("/topapi/role/removerolesforemps", 1, 100, 0),
    ],
)
def test_role_assignment_limits_are_20_roles_and_20_or_100_users(
    api: Api, path: str, roles: int, users: int, errcode: int
) -> None:
    group = api.ok("/role/add_role_group", {"name": "G"})["groupId"]
    role_ids = [
        api.ok("/role/add_role", {"roleName": f"R{n}", "groupId": group})["roleId"]
        for n in range(roles)
    ]
    userids = [f"u{n}" for n in range(users)]
    api.emulator.load(
        {**api.emulator.snapshot(), "users": [{"userid": u, "name": u} for u in userids]}
    )
    answer = api.top(path, {"roleIds": role_ids, "userIds": userids})
    assert answer["errcode"] == errcode


@pytest.mark.parametrize(
    ("role", "users", "errcode"),
    [("unknown", "ann", 33011), ("own", "ghost", 33012), ("system", "ann", 23004)],
)
def test_role_assignment_refusals_answer_documented_errcode(
    api: Api, role: str, users: str, errcode: int
) -> None:
    _group, own = _role_group_and_role(api)
    api.user("ann", 1)
    role_id = {"unknown": 42, "own": own, "system": _system_role(api)}[role]
    answer = api.top("/topapi/role/addrolesforemps", {"roleIds": str(role_id), "userIds": users})
    assert answer["errcode"] == errcode


def test_delete_role_detaches_holders_and_refuses_unknown_or_system_roles(api: Api) -> None:
    _group, role = _role_group_and_role(api)
    api.user("ann", 1)
    api.ok("/topapi/role/addrolesforemps", {"roleIds": str(role), "userIds": "ann"})
    api.ok("/topapi/role/deleterole", {"role_id": role})
    assert api.get_user("ann")["role_list"] == []
    assert api.top("/topapi/role/deleterole", {"role_id": role})["errcode"] == 33011
    assert api.top("/topapi/role/deleterole", {"role_id": _system_role(api)})["errcode"] == 23004


def test_role_reads_of_unknown_ids_answer_33011_or_400002(api: Api) -> None:
    assert api.top("/topapi/role/getrole", {"roleId": 42})["errcode"] == 33011
    assert api.top("/topapi/role/simplelist", {"role_id": 42})["errcode"] == 33011
    assert api.top("/topapi/role/getrolegroup", {"group_id": 42})["errcode"] == 400002


# --- §6 leavers and v1 searches ----------------------------------------------------------------


def _leave_records(api: Api, **params: Any) -> requests.Response:
    return api.v1("GET", "/v1.0/contact/empLeaveRecords", params=params)


def test_deleted_users_appear_in_leave_records_with_reason_oapi(api: Api, clock: FakeClock) -> None:
    for n in range(3):
        api.user(f"u{n}", n)
    for n in range(3):
        clock.advance(60)
        api.ok("/topapi/v2/user/delete", {"userid": f"u{n}"})
    resp = _leave_records(api, startTime="2026-08-01T00:00:00Z", maxResults=2, nextToken="0")
    assert resp.status_code == 200
    first = resp.json()
    assert [r["userId"] for r in first["records"]] == ["u0", "u1"]
    assert first["records"][0] == {
        "userId": "u0",
        "name": "User 0",
        "stateCode": "86",
        "mobile": mobile(0),
        "leaveTime": "2026-08-29T10:41:00Z",
        "leaveReason": "oapi",
    }
    rest = _leave_records(
        api, startTime="2026-08-01T00:00:00Z", maxResults=2, nextToken=first["nextToken"]
    ).json()
    assert [r["userId"] for r in rest["records"]] == ["u2"]
    assert "nextToken" not in rest


def test_leave_records_honour_the_end_time(api: Api, clock: FakeClock) -> None:
    api.user("u0", 0)
    api.ok("/topapi/v2/user/delete", {"userid": "u0"})
    resp = _leave_records(
        api, startTime="2026-08-01T00:00:00Z", endTime="2026-08-02T00:00:00Z", maxResults=10
    )
    assert resp.json() == {"records": []}


@pytest.mark.parametrize(
    "params",
    [
        {"maxResults": 10},
        {"startTime": "yesterday", "maxResults": 10},
        {"startTime": "2026-08-01T00:00:00Z"},
        {"startTime": "2026-08-01T00:00:00Z", "maxResults": 51},
        {"startTime": "2026-08-01T00:00:00Z", "maxResults": 0},
        {"startTime": "2025-08-01T00:00:00Z", "maxResults": 10},
        {"startTime": "2024-01-01T00:00:00Z", "endTime": "2025-06-01T00:00:00Z", "maxResults": 5},
        {"startTime": "2026-08-02T00:00:00Z", "endTime": "2026-08-01T00:00:00Z", "maxResults": 5},
        {"startTime": "2026-08-01T00:00:00Z", "maxResults": 5, "nextToken": "zz"},
    ],
)
def test_leave_records_with_bad_parameters_answer_400_invalid_parameter(
    api: Api, params: dict[str, Any]
) -> None:
    resp = _leave_records(api, **params)
    assert resp.status_code == 400
    assert resp.json()["code"] == "invalidParameter.param.invalid"


def test_user_and_department_search_answer_matching_ids(api: Api) -> None:
    eng = api.dept("Engineering")
    api.user("ann", 1, name="Ann Lee")
    api.user("bob", 2, name="Bob Lee")
    resp = api.v1("POST", "/v1.0/contact/users/search", json={"queryWord": "Lee", "size": 1})
    assert resp.json() == {"hasMore": True, "totalCount": 2, "list": ["ann"]}
    resp = api.v1(
        "POST",
        "/v1.0/contact/users/search",
        json={"queryWord": "Bob Lee", "fullMatchField": 1, "offset": 0, "size": 10},
    )
    assert resp.json()["list"] == ["bob"]
    resp = api.v1("POST", "/v1.0/contact/departments/search", json={"queryWord": "Engin"})
    assert resp.json()["list"] == [eng]
    resp = api.v1("POST", "/v1.0/contact/users/search", json={"size": 10})
    assert (resp.status_code, resp.json()["code"]) == (400, "invalidParameter.param.invalid")
