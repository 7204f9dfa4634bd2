"""What travels on the wire: the emulator's error types, request parameters and both envelopes.

dingtalk-api.md §1: the old "oapi" family answers HTTP 200 with ``errcode``; the v1.0 family answers
4xx/5xx with ``{"code","message","requestid"}``. Handlers raise; only this module renders.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# --- errors handlers raise ---------------------------------------------------------------------


class EmulatedError(Exception):
    """Base of every refusal the emulator answers with."""


class OapiError(EmulatedError):
    """An oapi business error: ``{"errcode": N, "errmsg": "…"}`` at HTTP 200 (§1)."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{errcode} {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class V1Error(EmulatedError):
    """A v1.0 error: HTTP ``status`` with ``{"code","message","requestid"}`` (§1)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message


class GatewayError(EmulatedError):
    """A token or flow-control refusal whose shape depends on the API family (§2.3, §8)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


TOKEN_BLANK = "token_blank"
TOKEN_INVALID = "token_invalid"
TOKEN_EXPIRED = "token_expired"
THROTTLED = "throttled"

# reason -> (topapi sub_code, sub_msg), (legacy errcode, errmsg), (v1 status, code, message)
_GATEWAY: dict[str, tuple[tuple[str, str], tuple[int, str], tuple[int, str, str]]] = {
    # dingtalk-api.md §2.3 (PROBE P9 for the blank case)
    TOKEN_BLANK: (
        ("40000", "access_token is blank"),
        (41001, "缺少access_token参数"),
        (400, "AuthenticationFailed.MissingParameter", "缺少x-acs-dingtalk-access-token请求头"),
    ),
    # dingtalk-api.md §2.3 (PROBE P8, P6)
    TOKEN_INVALID: (
        ("40014", "不合法的access_token"),
        (40014, "不合法的access_token"),
        (400, "InvalidAuthentication", "不合法的access_token"),
    ),
    # dingtalk-api.md §2.3 UNCERTAIN: the emulator wraps 42001 on /topapi/* like 40014.
    TOKEN_EXPIRED: (
        ("42001", "access_token超时"),
        (42001, "access_token超时"),
        (400, "InvalidAuthentication", "access_token已过期"),
    ),
    # dingtalk-api.md §8: per app, per API, 1-second window.
    THROTTLED: (
        ("90018", "应用调用该接口的并发量超过限制"),
        (90018, "应用调用该接口的并发量超过限制"),
        (403, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi", "应用调用该接口的QPS超过限制"),
    ),
}

# --- families and replies ----------------------------------------------------------------------

TOPAPI = "topapi"
LEGACY = "legacy"
V1 = "v1"


def family_of(path: str) -> str:
    """Name the API family a path belongs to, which decides the error envelope (§1)."""
    if path.startswith("/topapi/"):
        return TOPAPI
    if path.startswith("/v1.0/"):
        return V1
    return LEGACY


def new_request_id() -> str:
    """Return a fresh request id shaped like DingTalk's (12 lowercase characters)."""
    return secrets.token_hex(6)


@dataclass
class Reply:
    """An HTTP answer before it becomes a werkzeug Response."""

    status: int
    body: dict[str, Any] | str
    content_type: str = "application/json;charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    def text(self) -> str:
        """Serialise the body."""
        if isinstance(self.body, str):
            return self.body
        return json.dumps(self.body, ensure_ascii=False)

    def outcome(self) -> dict[str, Any]:
        """Summarise the answer for the call log: HTTP status plus errcode/sub_code/code."""
        out: dict[str, Any] = {"status": self.status}
        if isinstance(self.body, dict):
            for key in ("errcode", "sub_code", "code", "punish"):
                if key in self.body:
                    out[key] = self.body[key]
        return out


def oapi_ok(fields: Mapping[str, Any]) -> Reply:
    """Wrap a successful oapi answer: errcode 0 plus the handler's top-level fields (§1)."""
    body: dict[str, Any] = {"errcode": 0, "errmsg": "ok"}
    body.update(fields)
    body["request_id"] = new_request_id()
    return Reply(200, body)


def v1_ok(body: Mapping[str, Any]) -> Reply:
    """Answer a v1.0 success: the business object itself, no errcode (§1)."""
    return Reply(200, dict(body))


def render_error(error: EmulatedError, family: str) -> Reply:
    """Render a refusal in the envelope of the family it happened on (§1, §2.3, §8)."""
    if isinstance(error, V1Error):
        return v1_error(error.status, error.code, error.message)
    if isinstance(error, OapiError):
        if family == V1:  # a shared check raised an oapi code on a v1 path: never expected
            return v1_error(400, "invalidParameter", error.errmsg)
        return Reply(
            200, {"errcode": error.errcode, "errmsg": error.errmsg, "request_id": new_request_id()}
        )
    assert isinstance(error, GatewayError)
    (sub_code, sub_msg), (code, msg), (status, v1_code, v1_msg) = _GATEWAY[error.reason]
    if family == TOPAPI:
        return wrapped_88(sub_code, sub_msg)
    if family == V1:
        return v1_error(status, v1_code, v1_msg)
    return Reply(200, {"errcode": code, "errmsg": msg, "request_id": new_request_id()})


def wrapped_88(sub_code: str, sub_msg: str) -> Reply:
    """Answer the /topapi/* wrapper: errcode 88 with a string sub_code (§1, PROBE P8)."""
    return Reply(
        200,
        {
            "errcode": 88,
            "sub_code": sub_code,
            "sub_msg": sub_msg,
            "errmsg": f"ding talk error[subcode={sub_code},submsg={sub_msg}]",
            "request_id": new_request_id(),
        },
    )


def v1_error(status: int, code: str, message: str) -> Reply:
    """Answer a v1.0 error body with its HTTP status (§1)."""
    return Reply(status, {"code": code, "message": message, "requestid": new_request_id()})


def unknown_topapi(path: str) -> Reply:
    """Answer an unknown /topapi/<x>: errcode 22, checked before the token (§1, PROBE P14)."""
    api_name = "dingtalk.oapi." + path[len("/topapi/") :].strip("/").replace("/", ".")
    sub_msg = f"不合法ApiName，ApiName = {api_name}"
    return Reply(
        200,
        {
            "errcode": 22,
            "sub_code": "22",
            "sub_msg": sub_msg,
            "errmsg": f"ding talk error[subcode=22,submsg={sub_msg}]",
            "request_id": new_request_id(),
        },
    )


def unknown_path() -> Reply:
    """Answer any other unknown path: HTTP 200 errcode 404 on both hosts (§1, PROBE P12)."""
    return Reply(200, {"errcode": 404, "errmsg": "请求的URI地址不存在"})


def html(status: int, title: str) -> Reply:
    """Answer a gateway failure page, which is not JSON (dingtalk-api.md §11 HTTP rows)."""
    page = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
    return Reply(status, page, "text/html;charset=utf-8")


# --- request parameters ------------------------------------------------------------------------

_MISSING = object()


def _parse_json_text(value: Any) -> Any:
    """Decode a form field carrying a list or object as JSON text (SDK-J DefaultDingTalkClient)."""
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in ("[", "{"):
            try:
                return json.loads(text)
            except ValueError:
                return value
    return value


class Params:
    """Typed access to a call's business fields, from a JSON or form body (and the query string).

    Each getter raises the errcode the caller names (40035 "invalid or missing parameter" unless
    told otherwise). An empty string counts as "not sent", as DingTalk treats it (§3.2).
    """

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = dict(data)

    def raw(self, name: str) -> Any:
        """Return the value as sent, or None."""
        return self.data.get(name)

    def sent(self, name: str) -> bool:
        """Say whether the field was sent with a non-empty value."""
        value = self.data.get(name, _MISSING)
        return value is not _MISSING and value is not None and value != ""

    def string(
        self, name: str, *, required: bool = False, max_len: int | None = None, code: int = 40035
    ) -> str | None:
        """Return a string field; enforce presence and maximum length."""
        if not self.sent(name):
            if required:
                raise OapiError(40035, f"缺少参数 {name}")
            return None
        value = self.data[name]
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise OapiError(code, f"不合法的参数 {name}")
        text = str(value)
        if max_len is not None and len(text) > max_len:
            raise OapiError(code, f"参数 {name} 超过最大长度 {max_len}")
        return text

    def integer(self, name: str, *, required: bool = False, code: int = 40035) -> int | None:
        """Return an integer field (a number or a string of digits)."""
        if not self.sent(name):
            if required:
                raise OapiError(40035, f"缺少参数 {name}")
            return None
        value = self.data[name]
        if isinstance(value, bool):
            raise OapiError(code, f"不合法的参数 {name}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise OapiError(code, f"不合法的参数 {name}")

    def boolean(self, name: str, *, required: bool = False) -> bool | None:
        """Return a boolean field (JSON true/false, or "true"/"false"/"1"/"0" in a form)."""
        if not self.sent(name):
            if required:
                raise OapiError(40035, f"缺少参数 {name}")
            return None
        value = self.data[name]
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
            return value.strip().lower() in ("true", "1")
        raise OapiError(40035, f"不合法的参数 {name}")

    def id_list(self, name: str, *, code: int = 40035) -> list[int] | None:
        """Return a list of positive ids from "2,3,4", [2, 3, 4] or "[2,3,4]" (§1, §3.1)."""
        items = self._items(name, code=code)
        if items is None:
            return None
        out: list[int] = []
        for item in items:
            if isinstance(item, bool):
                raise OapiError(code, f"不合法的参数 {name}")
            try:
                number = int(str(item).strip())
            except ValueError:
                raise OapiError(code, f"不合法的参数 {name}") from None
            if number < 1:
                raise OapiError(code, f"不合法的参数 {name}")
            if number not in out:
                out.append(number)
        return out

    def str_list(self, name: str, *, code: int = 40035) -> list[str] | None:
        """Return a list of non-empty strings from "a,b", ["a", "b"] or '["a","b"]'."""
        items = self._items(name, code=code)
        if items is None:
            return None
        out: list[str] = []
        for item in items:
            if not isinstance(item, str | int) or isinstance(item, bool) or str(item).strip() == "":
                raise OapiError(code, f"不合法的参数 {name}")
            text = str(item).strip()
            if text not in out:
                out.append(text)
        return out

    def _items(self, name: str, *, code: int) -> list[Any] | None:
        if not self.sent(name):
            return None
        value = _parse_json_text(self.data[name])
        if isinstance(value, list):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return [value]
        if isinstance(value, str):
            return [part for part in value.split(",") if part.strip() != ""]
        raise OapiError(code, f"不合法的参数 {name}")

    def object_list(self, name: str, *, code: int = 40035) -> list[dict[str, Any]] | None:
        """Return a list of objects sent as a JSON array or JSON text."""
        if not self.sent(name):
            return None
        value = _parse_json_text(self.data[name])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise OapiError(code, f"不合法的参数 {name}")
        return value
