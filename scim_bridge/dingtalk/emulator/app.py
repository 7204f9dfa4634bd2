"""The Emulator: state, tokens, limits and faults behind one lock, served as a WSGI app.

One host serves both API families (dingtalk-api.md §1) plus control endpoints under
``/__emulator__/``, a prefix no DingTalk path uses. Latency and injected stalls happen outside the
lock, so a slow call never holds up the others.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from werkzeug.wrappers import Request, Response

from scim_bridge.dingtalk.callback_crypto import decode_aes_key
from scim_bridge.dingtalk.emulator import contact_v1, departments, roles, sandbox_read, users
from scim_bridge.dingtalk.emulator.admin import AdminConsole
from scim_bridge.dingtalk.emulator.callbacks import WRITE_EVENTS, CallbackSender, event_for
from scim_bridge.dingtalk.emulator.config import FAULT_KINDS, EmulatorConfig
from scim_bridge.dingtalk.emulator.limits import FaultPlan, IpLimiter, RateLimiter, TokenStore
from scim_bridge.dingtalk.emulator.sandbox_read import MemberIndex
from scim_bridge.dingtalk.emulator.state import Directory
from scim_bridge.dingtalk.emulator.wire import (
    TOPAPI,
    V1,
    EmulatedError,
    OapiError,
    Params,
    Reply,
    V1Error,
    family_of,
    html,
    new_request_id,
    oapi_ok,
    render_error,
    unknown_path,
    unknown_topapi,
    v1_error,
    v1_ok,
)
from scim_bridge.errors import ConfigError

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

CONTROL_PREFIX = "/__emulator__/"
TOKEN_HEADER = "x-acs-dingtalk-access-token"
MAX_CALLS_KEPT = 100_000

Handler = Callable[["Emulator", Params, float], dict[str, Any]]
T = TypeVar("T")


@dataclass(frozen=True)
class Route:
    """One DingTalk API the emulator serves."""

    api: str  # the path, or its template for /v1.0/oauth2/{corpId}/token
    methods: tuple[str, ...]
    handler: Handler
    write: bool = False
    credentials: bool = False  # a token endpoint: no access token, app named by its parameters


def _on_directory(fn: Callable[[Directory, Params, float], dict[str, Any]]) -> Handler:
    def handler(em: Emulator, params: Params, now: float) -> dict[str, Any]:
        return fn(em.directory, params, now)

    return handler


def _dept_create(em: Emulator, params: Params, now: float) -> dict[str, Any]:
    return departments.create(em.directory, params, now, clash_code=em.config.dept_name_clash_code)


def _dept_update(em: Emulator, params: Params, now: float) -> dict[str, Any]:
    return departments.update(em.directory, params, now, clash_code=em.config.dept_name_clash_code)


# --- token endpoints (dingtalk-api.md §2) -------------------------------------------------------


def _gettoken(em: Emulator, params: Params, now: float) -> dict[str, Any]:
    """GET /gettoken?appkey&appsecret (dingtalk-api.md §2.1); errors are never wrapped in 88."""
    app_key, app_secret = params.raw("appkey"), params.raw("appsecret")
    if not app_key or not app_secret:
        raise OapiError(40035, "缺少参数 corpid or appkey")  # PROBE P2
    if (app_key, app_secret) != (em.config.app_key, em.config.app_secret):
        raise OapiError(40096, "不合法的appKey或appSecret")  # PROBE P1
    token, ttl = em.tokens.issue(app_key, now=now, ttl=em.config.token_ttl)
    return {"access_token": token, "expires_in": int(ttl)}


def _access_token(em: Emulator, params: Params, now: float) -> dict[str, Any]:
    """POST /v1.0/oauth2/accessToken (dingtalk-api.md §2.2)."""
    app_key, app_secret = params.raw("appKey"), params.raw("appSecret")
    if (app_key, app_secret) != (em.config.app_key, em.config.app_secret):
        raise V1Error(400, "invalidClientIdOrSecret", "无效的clientId或者clientSecret")  # P3
    token, ttl = em.tokens.issue(em.config.app_key, now=now, ttl=em.config.token_ttl)
    return {"accessToken": token, "expireIn": int(ttl)}


def _corp_token(em: Emulator, params: Params, now: float) -> dict[str, Any]:
    """POST /v1.0/oauth2/{corpId}/token, client_credentials (dingtalk-api.md §2.2)."""
    if params.raw("__corp_id__") != em.config.corp_id:
        raise V1Error(500, "unknownError", "unknownError")  # PROBE P4: nothing to diagnose
    if params.raw("grant_type") != "client_credentials":
        raise V1Error(400, "unsupported.grant.type", "不支持的grant_type")
    client = (params.raw("client_id"), params.raw("client_secret"))
    if client != (em.config.app_key, em.config.app_secret):
        raise V1Error(400, "invalid.client", "无效的client_id或client_secret")
    token, ttl = em.tokens.issue(em.config.app_key, now=now, ttl=em.config.token_ttl)
    return {"access_token": token, "expires_in": int(ttl)}


_POST = ("POST",)
_OAPI = ("GET", "POST")  # the TOP gateway reads parameters from the query as well as the body

ROUTES: dict[str, Route] = {
    r.api: r
    for r in (
        Route("/gettoken", ("GET", "POST"), _gettoken, credentials=True),
        Route("/v1.0/oauth2/accessToken", _POST, _access_token, credentials=True),
        # §3 users
        Route("/topapi/v2/user/create", _OAPI, _on_directory(users.create), write=True),
        Route("/topapi/v2/user/update", _OAPI, _on_directory(users.update), write=True),
        Route("/topapi/v2/user/delete", _OAPI, _on_directory(users.delete), write=True),
        Route("/topapi/v2/user/get", _OAPI, _on_directory(users.get)),
        Route("/topapi/user/listid", _OAPI, _on_directory(users.listid)),
        Route("/topapi/v2/user/list", _OAPI, _on_directory(users.list_users)),
        Route("/topapi/user/listsimple", _OAPI, _on_directory(users.listsimple)),
        Route("/topapi/user/count", _OAPI, _on_directory(users.count)),
        Route("/topapi/v2/user/getbymobile", _OAPI, _on_directory(users.getbymobile)),
        Route("/topapi/user/getbyunionid", _OAPI, _on_directory(users.getbyunionid)),
        # §4 departments
        Route("/topapi/v2/department/create", _OAPI, _dept_create, write=True),
        Route("/topapi/v2/department/update", _OAPI, _dept_update, write=True),
        Route("/topapi/v2/department/delete", _OAPI, _on_directory(departments.delete), write=True),
        Route("/topapi/v2/department/get", _OAPI, _on_directory(departments.get)),
        Route("/topapi/v2/department/listsub", _OAPI, _on_directory(departments.listsub)),
        Route("/topapi/v2/department/listsubid", _OAPI, _on_directory(departments.listsubid)),
        Route(
            "/topapi/v2/department/listparentbydept",
            _OAPI,
            _on_directory(departments.listparentbydept),
        ),
        Route(
            "/topapi/v2/department/listparentbyuser", _OAPI, _on_directory(users.listparentbyuser)
        ),
        # §5 roles (three legacy, non-topapi paths)
        Route("/role/add_role_group", _OAPI, _on_directory(roles.add_role_group), write=True),
        Route("/role/add_role", _OAPI, _on_directory(roles.add_role), write=True),
        Route("/role/update_role", _OAPI, _on_directory(roles.update_role), write=True),
        Route("/topapi/role/deleterole", _OAPI, _on_directory(roles.deleterole), write=True),
        Route(
            "/topapi/role/addrolesforemps", _OAPI, _on_directory(roles.addrolesforemps), write=True
        ),
        Route(
            "/topapi/role/removerolesforemps",
            _OAPI,
            _on_directory(roles.removerolesforemps),
            write=True,
        ),
        Route("/topapi/role/list", _OAPI, _on_directory(roles.list_roles)),
        Route("/topapi/role/simplelist", _OAPI, _on_directory(roles.simplelist)),
        Route("/topapi/role/getrole", _OAPI, _on_directory(roles.getrole)),
        Route("/topapi/role/getrolegroup", _OAPI, _on_directory(roles.getrolegroup)),
        # §6 leavers and the v1.0 searches
        Route("/v1.0/contact/empLeaveRecords", ("GET",), _on_directory(contact_v1.leave_records)),
        Route("/v1.0/contact/users/search", _POST, _on_directory(contact_v1.search_users)),
        Route(
            "/v1.0/contact/departments/search", _POST, _on_directory(contact_v1.search_departments)
        ),
    )
}
CORP_TOKEN = Route("/v1.0/oauth2/{corpId}/token", _POST, _corp_token, credentials=True)
_CORP_TOKEN_PATH = re.compile(r"^/v1\.0/oauth2/([^/]+)/token$")


def _read_params(request: Request) -> tuple[dict[str, Any], str | None, bool]:
    """Collect business fields from the query and a JSON or form body.

    Returns (fields, the form body's access_token, whether the body was unparseable JSON).
    dingtalk-api.md §1: the token is read from the query or a form body, never from JSON.
    """
    fields: dict[str, Any] = {k: v for k, v in request.args.items() if k != "access_token"}
    form_token: str | None = None
    bad_body = False
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = request.form.to_dict()
        form_token = form.pop("access_token", None)
        fields.update(form)
    else:
        raw = request.get_data(cache=True)
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            if isinstance(body, dict):
                fields.update(body)
            else:
                bad_body = True
    return fields, form_token, bad_body


class Emulator:
    """A stateful, thread-safe DingTalk org served as a WSGI app (dingtalk-api.md §1–§8)."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self._validate(self.config)
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self.directory = Directory(corp_id=self.config.corp_id, org_name=self.config.org_name)
        self.tokens = TokenStore()
        self._limiter = RateLimiter()
        self._ips = IpLimiter()
        self._faults = FaultPlan(self.config.seed)
        self._calls: deque[dict[str, Any]] = deque(maxlen=MAX_CALLS_KEPT)
        self._seq = 0
        self._generation = 0  # bumped by reset(): calls in flight across a reset go unlogged
        # Counts every possible change to the org: the sandbox's member index rebuilds on it.
        self._revision = 0
        self._members = MemberIndex()
        #: Contact-change pushes to config.callback_url (dingtalk-api.md §9), off this thread.
        self.callbacks = CallbackSender(lambda: self.config)
        #: Out-of-band edits, as in DingTalk's admin console (drift for reconcile's tests).
        self.admin = AdminConsole(self)

    # --- Python API -----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Dump users, departments, roles and leave records (same as GET /__emulator__/state)."""
        with self._lock:
            return self.directory.snapshot()

    def users(self) -> dict[str, dict[str, Any]]:
        """Return a copy of every stored user, keyed by userid."""
        with self._lock:
            return copy.deepcopy(self.directory.users)

    def user_count(self) -> int:
        """Return how many users are stored, without copying them (benchmarks poll this)."""
        with self._lock:
            return len(self.directory.users)

    def has_user(self, userid: str) -> bool:
        """Say whether ``userid`` is stored, without copying the org (benchmarks poll this)."""
        with self._lock:
            return userid in self.directory.users

    def departments(self) -> dict[int, dict[str, Any]]:
        """Return a copy of every department, keyed by dept_id (1 is the root)."""
        with self._lock:
            return copy.deepcopy(self.directory.depts)

    def calls(self) -> list[dict[str, Any]]:
        """Return the log of DingTalk calls answered so far, oldest first."""
        with self._lock:
            return copy.deepcopy(list(self._calls))

    def reset(self) -> None:
        """Empty the org, the call log, the QPS windows and IP bans; re-seed the faults.

        Issued tokens survive a reset (they are credentials, not directory state); use
        ``expire_tokens`` to exercise renewal. Calls still in flight (e.g. stalled by an injected
        timeout) when the reset happens are not logged afterwards.
        """
        with self._lock:
            self.directory = Directory(corp_id=self.config.corp_id, org_name=self.config.org_name)
            self._limiter = RateLimiter()
            self._ips = IpLimiter()
            self._faults.reseed(self.config.seed)
            self._calls.clear()
            self._generation += 1
            self._revision += 1

    def load(self, snapshot: dict[str, Any]) -> None:
        """Replace the org with a snapshot in the format ``snapshot()`` returns."""
        if not isinstance(snapshot, dict):
            raise ValueError("a snapshot is a JSON object")
        with self._lock:
            fresh = Directory(corp_id=self.config.corp_id, org_name=self.config.org_name)
            try:
                fresh.load(snapshot)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise ValueError(f"snapshot is malformed: {exc!r}") from None
            self.directory = fresh
            self._revision += 1

    def edit(self, change: Callable[[Directory, float], T]) -> T:
        """Run a change on the org under the emulator's lock (the admin console's way in)."""
        with self._lock:
            self._revision += 1
            return change(self.directory, self.config.clock())

    def inspect(self, look: Callable[[Directory, MemberIndex], T]) -> T:
        """Run a read of the org under the lock, its member index current (sandbox_read.py)."""
        with self._lock:
            self._members.refresh(self.directory, self._revision)
            return look(self.directory, self._members)

    def configure(self, **changes: Any) -> None:
        """Change settings at run time (qps, latency, fail_rate, fault_kinds, seed, …)."""
        known = {f.name for f in dataclasses.fields(EmulatorConfig)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
        for name in ("fault_kinds", "callback_retry_delays"):
            if name in changes:
                changes[name] = tuple(changes[name])
        with self._lock:
            config = dataclasses.replace(self.config, **changes)
            self._validate(config)
            self.config = config
            if "seed" in changes:
                self._faults.reseed(config.seed)
            self.directory.corp_id = config.corp_id
            if "org_name" in changes:
                self.directory.org_name = config.org_name
                self.directory.depts[1]["name"] = config.org_name

    def expire_tokens(self) -> None:
        """Expire every issued token: the next call answers the "expired" refusal (§2.3)."""
        with self._lock:
            self.tokens.expire_all(now=self.config.clock())

    def stop_stalls(self) -> None:
        """Wake every call sleeping in latency or an injected timeout (used when stopping)."""
        self._stopping.set()

    @staticmethod
    def _validate(config: EmulatorConfig) -> None:
        if not 0.0 <= config.fail_rate <= 1.0:
            raise ValueError("fail_rate must be between 0 and 1")
        bad = sorted(set(config.fault_kinds) - set(FAULT_KINDS))
        if bad:
            raise ValueError(f"unknown fault kind(s) {bad}; known: {list(FAULT_KINDS)}")
        if config.qps < 0 or config.latency < 0 or config.timeout_stall < 0:
            raise ValueError("qps, latency and timeout_stall must be ≥ 0")
        if config.ip_limit is not None and config.ip_limit < 0:
            raise ValueError("ip_limit must be ≥ 0 or None")
        if config.callback_url:
            if not config.callback_token:
                raise ValueError("callback_url needs callback_token")
            try:
                decode_aes_key(config.callback_aes_key, setting="callback_aes_key")
            except ConfigError as exc:
                raise ValueError(str(exc)) from None

    # --- WSGI -----------------------------------------------------------------------------------

    def wsgi_app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Answer one HTTP request."""
        request = Request(environ)
        if request.path.startswith(CONTROL_PREFIX):
            reply = self._control(request)
        else:
            reply = self._dingtalk(request)
        response = Response(
            reply.text(),
            status=reply.status,
            content_type=reply.content_type,
            headers=reply.headers,
        )
        return response(environ, start_response)

    __call__ = wsgi_app

    def _dingtalk(self, request: Request) -> Reply:
        config = self.config
        path = request.path
        family = family_of(path)
        call: dict[str, Any] = {
            "time": config.clock(),
            "method": request.method,
            "path": path,
            "api": None,
            "app_key": None,
            "userid": None,
            "dept_id": None,
            "fault": None,
        }
        started = time.monotonic()
        with self._lock:
            call["generation"] = self._generation
            banned = self._ips.banned(
                request.remote_addr or "",
                limit=config.ip_limit,
                window=config.ip_window,
                ban=config.ip_ban,
                now=config.clock(),
            )
        if banned:
            # dingtalk-api.md §8: not the normal envelope. Emulator choice: HTTP 200 with the
            # x5 punish body (clients detect the ban by "punish": "deny", not by status).
            body = {
                "status": 1111,
                "wait": 5,
                "source": "x5",
                "punish": "deny",
                "uuid": new_request_id(),
            }
            return self._finish(call, Reply(200, body), started)
        if config.latency > 0:
            self._stopping.wait(config.latency)

        route, corp_id = self._route(request)
        if route is None:
            # dingtalk-api.md §1: unknown /topapi/<x> → 22 before any token check; else 404 body.
            reply = unknown_topapi(path) if family == TOPAPI else unknown_path()
            return self._finish(call, reply, started)
        call["api"] = route.api
        fields, form_token, bad_body = _read_params(request)
        if corp_id is not None:
            fields["__corp_id__"] = corp_id
        params = Params(fields)
        fault: str | None = None
        try:
            with self._lock:
                now = config.clock()
                app_key = self._authenticate(route, request, params, form_token, now)
                call["app_key"] = app_key
                self._limiter.admit(app_key, route.api, qps=config.qps, now=now)
                if route.write or not config.faults_on_writes_only:
                    fault = self._faults.draw(fail_rate=config.fail_rate, kinds=config.fault_kinds)
            call["fault"] = fault
            if fault in ("http500", "http502", "busy", "timeout"):
                return self._finish(call, self._fault_reply(fault, family, config), started)
            if bad_body:
                if family == V1:
                    raise V1Error(400, "invalidParameter", "请求体不是合法的JSON")
                raise OapiError(47001, "JSON格式错误")  # dingtalk-api.md §11
            with self._lock:
                self._revision += int(route.write)  # first: a write failing half-way counts
                payload = route.handler(self, params, config.clock())
            self._touched(call, params, payload)
            self._push_change(route.api, params, payload)
            reply = v1_ok(payload) if family == V1 else oapi_ok(payload)
        except EmulatedError as error:
            reply = render_error(error, family)
        if fault == "timeout_after_apply":
            # The write is applied; the answer arrives only after the caller gave up.
            self._stopping.wait(config.timeout_stall)
        self._touched(call, params, {})
        return self._finish(call, reply, started)

    def _route(self, request: Request) -> tuple[Route | None, str | None]:
        route = ROUTES.get(request.path)
        corp_id = None
        if route is None:
            match = _CORP_TOKEN_PATH.match(request.path)
            if match:
                route, corp_id = CORP_TOKEN, match.group(1)
        if route is None or request.method not in route.methods:
            return None, None
        return route, corp_id

    def _authenticate(
        self, route: Route, request: Request, params: Params, form_token: str | None, now: float
    ) -> str:
        """Return the calling app's key, or raise the family's token refusal (§1, §2.3)."""
        if route.credentials:
            key = params.raw("appkey") or params.raw("appKey") or params.raw("client_id")
            return str(key or "")
        if family_of(route.api) == V1:
            # Only the header counts; a query token or a Bearer header is "missing" (PROBE P7, P10).
            return self.tokens.check(request.headers.get(TOKEN_HEADER), now=now)
        token = request.args.get("access_token") or form_token
        return self.tokens.check(token, now=now)

    def _fault_reply(self, fault: str, family: str, config: EmulatorConfig) -> Reply:
        if fault == "timeout":
            self._stopping.wait(config.timeout_stall)
            if family == V1:
                return v1_error(504, "service.timeout", "服务超时")
            return html(504, "504 Gateway Time-out")
        if fault == "http502":
            return html(502, "502 Bad Gateway")
        if fault == "http500":
            if family == V1:
                return v1_error(500, "systemError", "系统错误")
            return html(500, "500 Internal Server Error")
        # "busy": oapi errcode -1 (dingtalk-api.md §11); v1 has no errcode, so 503.
        if family == V1:
            return v1_error(503, "ServiceUnavailable", "系统繁忙")
        return render_error(OapiError(-1, "系统繁忙"), family)

    def _push_change(self, api: str, params: Params, payload: dict[str, Any]) -> None:
        """Queue the contact-change push a successful write raises (dingtalk-api.md §9)."""
        kind = WRITE_EVENTS.get(api)
        if kind is None:
            return
        event_type, key = kind
        result = payload.get("result")
        value = params.raw(key)
        if value in (None, "") and isinstance(result, dict):
            value = result.get(key)
        if value in (None, ""):
            return
        if key == "userid":
            self.callbacks.emit(event_for(event_type, user_ids=[value]))
        else:
            self.callbacks.emit(event_for(event_type, dept_ids=[value]))

    @staticmethod
    def _touched(call: dict[str, Any], params: Params, payload: dict[str, Any]) -> None:
        result = payload.get("result")
        for key in ("userid", "dept_id"):
            if call[key] is not None:
                continue
            value = params.raw(key)
            if value in (None, "") and isinstance(result, dict):
                value = result.get(key)
            if value not in (None, ""):
                call[key] = int(value) if key == "dept_id" and str(value).isdigit() else value

    def _finish(self, call: dict[str, Any], reply: Reply, started: float) -> Reply:
        call["outcome"] = reply.outcome()
        call["duration"] = round(time.monotonic() - started, 6)
        generation = call.pop("generation")
        with self._lock:
            if generation != self._generation:
                return reply
            self._seq += 1
            call["seq"] = self._seq
            self._calls.append(call)
        return reply

    # --- control endpoints ----------------------------------------------------------------------

    def _control(self, request: Request) -> Reply:
        action = request.path[len(CONTROL_PREFIX) :].strip("/")
        method = request.method
        try:
            if action == "state" and method == "GET":
                return Reply(200, self.snapshot())
            if action in sandbox_read.ACTIONS and method == "GET":
                return sandbox_read.answer(self, action, request.args)
            if action == "calls" and method == "GET":
                return Reply(200, json.dumps(self.calls(), ensure_ascii=False))
            if action == "config" and method == "GET":
                return Reply(200, self.config.public())
            if action == "reset" and method == "POST":
                self.reset()
                return Reply(200, {"ok": True})
            if action == "load" and method == "POST":
                self.load(self._json_body(request))
                return Reply(200, {"ok": True})
            if action == "config" and method == "POST":
                changes = self._json_body(request)
                if "clock" in changes:
                    raise ValueError("the clock can only be set from Python")
                if changes.get("ip_limit") is not None:
                    changes["ip_limit"] = int(changes["ip_limit"])
                self.configure(**changes)
                return Reply(200, self.config.public())
            if action == "expire-tokens" and method == "POST":
                self.expire_tokens()
                return Reply(200, {"ok": True})
        except (ValueError, TypeError) as exc:
            return Reply(400, {"error": str(exc)})
        return Reply(404, {"error": f"no control endpoint {method} {request.path}"})

    @staticmethod
    def _json_body(request: Request) -> dict[str, Any]:
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError:
            raise ValueError("the body must be a JSON object") from None
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        return body
