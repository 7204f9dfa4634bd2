"""The only code that speaks DingTalk HTTP: tokens, rate limits, errcode → exception, typed calls.

Everything here follows /work/shared/dingtalk-api.md and nothing else: the client must work against
any faithful implementation of that document (the real service, our emulator, someone else's).
So it relies on no emulator-only field, header or id; it tolerates fields omitted when empty,
``errcode`` as a number or a numeric string, both department-name-clash codes (60008, 60021) and
both spellings ``unionId``/``unionid``.

Retry policy in one place (``DingTalkClient._call``):

* token errors (§2.3): drop the cached token, fetch a new one, retry the call once;
* throttling (§8, 88/90018, 90002, 403 Qps*): sleep ≥1 s then back off exponentially with jitter,
  slow that API's limiter down; ``Throttled`` surfaces only when the attempts run out;
* transient failures (-1, 60019, 5xx, timeouts): reads are retried with backoff; writes raise
  ``AmbiguousWrite`` (§10: no idempotency key) so the caller re-reads with ``find_user`` /
  ``find_department`` before deciding; a connect timeout (nothing was sent) is retried for both;
* an IP ban (``punish: deny`` or a non-JSON answer) trips a circuit breaker that refuses calls,
  raising ``IpBanned`` with ``retry_after``, until the ban window has passed;
* everything else raises the class the table in ``errcodes.py`` names, at once.

Secrets: the app secret travels only in the JSON body of ``POST /v1.0/oauth2/accessToken`` (the
``/gettoken`` fallback puts it in a query string); the token travels in the oapi query string. No
URL is ever logged or put into an exception by this module, every message taken from an answer is
scrubbed, and a filter on urllib3's connection-pool logger redacts ``access_token=``/``appsecret=``
in its DEBUG lines.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, Self

import requests
from requests.adapters import HTTPAdapter

from scim_bridge.dingtalk.errcodes import TOKEN_REASONS, Retry, Rule, rule_for
from scim_bridge.dingtalk.ratelimit import CircuitBreaker, Clock, RateLimiter, Sleep
from scim_bridge.errors import (
    AmbiguousWrite,
    ConfigError,
    DingTalkConflict,
    DingTalkError,
    DingTalkInvalid,
    DingTalkNotFound,
    IpBanned,
    Throttled,
    Transient,
)
from scim_bridge.settings import DINGTALK_API_URL, DINGTALK_OAPI_URL, EMULATOR, Settings

__all__ = [
    "ClientStats",
    "CreatedUser",
    "DepartmentNameTaken",
    "DingTalkClient",
    "Role",
    "endpoint_of",
]

log = logging.getLogger(__name__)

ROOT_DEPT_ID = 1  # dingtalk-api.md §4: the root department id is 1
USER_GONE = frozenset({"60121", "60111", "33012"})  # dingtalk-api.md §3.3, §10
DEPT_GONE = frozenset({"60003"})  # dingtalk-api.md §4.3, §10
DEPT_NAME_TAKEN = frozenset({"60008", "60021"})  # dingtalk-api.md §4.1: both mean the same
USER_CREATE_REQUIRED = ("name", "mobile", "dept_id_list")  # dingtalk-api.md §3.1
TOKEN_HEADER = "x-acs-dingtalk-access-token"
V1_TOKEN_PATH = "/v1.0/oauth2/accessToken"
OAPI_TOKEN_PATH = "/gettoken"
ROLE_ADD_MAX_ROLES, ROLE_ADD_MAX_USERS = 20, 20  # dingtalk-api.md §5 addrolesforemps
ROLE_REMOVE_MAX_ROLES, ROLE_REMOVE_MAX_USERS = 20, 100  # dingtalk-api.md §5 removerolesforemps
USER_LIST_MAX_SIZE = 100  # dingtalk-api.md §3.5 v2/user/list size 1..100
USER_LIST_MAX_CURSOR = 100_000  # dingtalk-api.md §3.5 cursor 0..100000
ROLE_LIST_MAX_SIZE = 200  # dingtalk-api.md §5 role/list size ≤ 200
LEAVE_MAX_RESULTS = 50  # dingtalk-api.md §6 maxResults ≤ 50
DEFAULT_BAN_S = 300.0  # dingtalk-api.md §8: the IP is banned for 5 minutes
#: The endpoint each kind of write (target, kind) calls, for dry runs (`scim-bridge plan`).
_WRITE_ENDPOINTS = {
    ("department", "create"): "/topapi/v2/department/create",
    ("department", "update"): "/topapi/v2/department/update",
    ("department", "move"): "/topapi/v2/department/update",
    ("department", "delete"): "/topapi/v2/department/delete",
    ("user", "create"): "/topapi/v2/user/create",
    ("user", "update"): "/topapi/v2/user/update",
    ("user", "move"): "/topapi/v2/user/update",
    ("user", "delete"): "/topapi/v2/user/delete",
    ("role", "create"): "/role/add_role",
    ("role", "update"): "/role/update_role",
    ("role", "delete"): "/topapi/role/deleterole",
    ("user", "roles"): "/topapi/role/addrolesforemps",
}


def endpoint_of(target: str, kind: str) -> str:
    """Return the DingTalk endpoint a write of ``kind`` on ``target`` calls ('' for none)."""
    return _WRITE_ENDPOINTS.get((target, kind), "")


# dingtalk-api.md §1, §3.1, §4.1/4.2: list parameters travel as comma-separated id strings.
_COMMA_LISTS = frozenset(
    {
        "dept_id_list",
        "dept_manager_userid_list",
        "force_update_fields",
        "user_permits",
        "dept_permits",
        "outer_permit_users",
        "outer_permit_depts",
    }
)
# dingtalk-api.md §3.1: extension is JSON *text* holding an object.
_JSON_TEXT = frozenset({"extension", "extension_i18n"})

_SECRET_IN_URL = re.compile(
    r"(access_token|appsecret|appSecret|corpsecret|client_secret)=([^&\s\"'#]+)", re.IGNORECASE
)


# --- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreatedUser:
    """What ``create_user`` returns: the userid and the unionid DingTalk assigned."""

    userid: str
    unionid: str


@dataclass(frozen=True)
class Role:
    """One role from ``/topapi/role/list``, flattened with the group it belongs to."""

    role_id: int
    name: str
    group_id: int
    group_name: str


@dataclass(frozen=True)
class ClientStats:
    """Counters since the client was built, for benchmarks and metrics."""

    requests: int = 0  # HTTP requests sent, token requests included
    throttled: int = 0  # throttling answers met (88/90018, 90002, 403 Qps*)
    transient_retries: int = 0  # reads retried after -1, 5xx, a timeout
    auth_retries: int = 0  # calls retried once after a token error
    token_fetches: int = 0  # tokens fetched (first one, proactive refreshes, after errors)
    limiter_wait_s: float = 0.0  # seconds spent waiting for the client-side limiter


#: How a call ended, for the observer: a small fixed set, so a metric label stays bounded.
OUTCOMES = {
    Retry.NEVER: "failed",
    Retry.AUTH: "auth",
    Retry.THROTTLE: "throttled",
    Retry.TRANSIENT: "transient",
    Retry.BANNED: "banned",
}


class CallObserver(Protocol):
    """Told about every HTTP request and token fetch (the metrics of monitor/ implement it).

    dingtalk/ imports neither the metrics nor the store, so the composition root passes one in.
    """

    def call_finished(self, api: str, outcome: str, seconds: float) -> None:
        """One HTTP request to ``api`` ended with ``outcome`` ("ok" or a value of OUTCOMES)."""

    def token_fetched(self, ok: bool) -> None:
        """One token fetch ended (``ok`` False: it raised)."""


class CallListener(Protocol):
    """Told, per thread, about every HTTP request with DingTalk's errcode (the audit trail)."""

    def call_answered(self, api: str, errcode: str, seconds: float) -> None:
        """One HTTP request to ``api`` ended: ``errcode`` "0", or the reason it failed."""


class DepartmentNameTaken(DingTalkConflict):
    """A sibling with this name exists under the parent; ``dept_id`` is it when listsub found it."""

    def __init__(self, reason: str, message: str = "", *, dept_id: int | None, **kw: Any) -> None:
        super().__init__(reason, message, **kw)
        self.dept_id = dept_id


# --- the client ---------------------------------------------------------------------------------


def _settle_environment(session: requests.Session, urls: tuple[str, ...]) -> None:
    """Read the proxy and CA-bundle variables once instead of on every call.

    requests re-reads them (and ~/.netrc) per request when ``trust_env`` is on, and that
    scan of the environment cost more CPU than the rest of a call (bench/translator_cpu.py).
    When the hosts would get different proxies (NO_PROXY naming one), requests keeps
    deciding per request."""
    found = [session.merge_environment_settings(url, {}, None, None, None) for url in urls]
    if any(settings != found[0] for settings in found[1:]):
        return
    session.proxies.update(found[0]["proxies"])
    session.verify = found[0]["verify"]
    session.trust_env = False


class DingTalkClient:
    """A thread-safe client for one DingTalk app: one session, one token, one limiter per API."""

    def __init__(
        self,
        *,
        app_key: str,
        app_secret: str,
        oapi_url: str = DINGTALK_OAPI_URL,
        api_url: str = DINGTALK_API_URL,
        qps: float = 20.0,
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        # Wall-clock time: DingTalk counts calls in wall-clock seconds (§8, ratelimit.py).
        clock: Clock = time.time,
        sleep: Sleep = time.sleep,
        session: requests.Session | None = None,
        pool_maxsize: int = 32,
        throttle_retries: int = 5,
        transient_retries: int = 3,
        token_margin: float = 300.0,
        rng: random.Random | None = None,
        observer: CallObserver | None = None,
    ) -> None:
        self.app_key = app_key
        self._secret = app_secret
        self.oapi_url = oapi_url.rstrip("/")
        self.api_url = api_url.rstrip("/")
        self._timeout = (connect_timeout, read_timeout)
        self._clock = clock
        self._sleep = sleep
        self._throttle_retries = throttle_retries
        self._transient_retries = transient_retries
        self._rng = rng or random.Random()  # noqa: S311 — backoff jitter, not cryptography
        self._owns_session = session is None
        if session is None:
            session = requests.Session()
            # dingtalk-api.md §8: the sync engine keeps the quota full from a thread pool.
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_maxsize, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            _settle_environment(session, (self.oapi_url, self.api_url))
        self._session = session
        self._limiter = RateLimiter(qps, clock=clock, sleep=sleep)
        self._urgency = threading.local()  # issue 14: this thread's calls jump the queue
        self._breaker = CircuitBreaker(clock=clock)
        self._scrubber = _Scrubber(app_secret)
        self._tokens = _TokenStore(self._fetch_token, clock=clock, margin=token_margin)
        self._use_gettoken = False
        self._stats_lock = threading.Lock()
        self._stats = ClientStats()
        self._observer = observer
        self._listeners: list[CallListener] = []
        _install_urllib3_redaction()

    @contextmanager
    def urgent(self, flag: bool = True) -> Iterator[None]:
        """Let this thread's calls take the next free slot of their API while inside.

        Issue 14, "Leavers first": a leaver's removal must not queue behind a bulk onboarding's
        calls for the client-side quota.
        """
        before = getattr(self._urgency, "on", False)
        self._urgency.on = flag
        try:
            yield
        finally:
            self._urgency.on = before

    def listen(self, listener: CallListener) -> None:
        """Tell ``listener`` about every request from now on (the translator's audit record)."""
        self._listeners.append(listener)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> DingTalkClient:
        """Build a client from the DingTalk settings (``overrides`` e.g. clock, sleep)."""
        if settings.dingtalk_base_url == EMULATOR:
            raise ConfigError(
                "setting dingtalk_base_url is 'emulator': start the emulator first and pass "
                "its URL (SCIM_BRIDGE_DINGTALK_BASE_URL)"
            )
        kwargs: dict[str, Any] = {
            "app_key": settings.dingtalk_app_key,
            "app_secret": settings.dingtalk_app_secret,
            "oapi_url": settings.dingtalk_base_url,
            "api_url": settings.dingtalk_v1_url,
            "qps": settings.dingtalk_qps,
            "connect_timeout": settings.dingtalk_connect_timeout,
            "read_timeout": settings.dingtalk_read_timeout,
        }
        kwargs.update(overrides)
        return cls(**kwargs)

    def refresh_token(self) -> None:
        """Fetch a new access token now if the cached one is due (dingtalk-api.md §12.1).

        A scheduler calls this every minute, so no call ever waits for a token fetch.
        """
        self._tokens.get()

    def close(self) -> None:
        """Close the HTTP session (when the client created it)."""
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> Self:
        """Return the client; leaving the block closes it."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the client."""
        self.close()

    def __repr__(self) -> str:
        return f"DingTalkClient(app_key={self.app_key!r}, oapi_url={self.oapi_url!r})"

    def stats(self) -> ClientStats:
        """Return a snapshot of the call counters."""
        with self._stats_lock:
            return self._stats

    def current_rate(self, path: str) -> float:
        """Return the requests per second the client-side limiter allows on ``path`` now."""
        return self._limiter.rate(path)

    # --- users (dingtalk-api.md §3) -------------------------------------------------------------

    def create_user(self, fields: dict[str, Any]) -> CreatedUser:
        """Create a user; send your own deterministic ``userid`` (dingtalk-api.md §10)."""
        try:
            payload = self._oapi("/topapi/v2/user/create", _encode(fields), write=True)
        except DingTalkInvalid as exc:
            # 40035 "缺少参数 X" says which parameter, but errmsg is not to be read (§1): what
            # we did not send tells it (the mobile, for a user the IdP gave none).
            missing = [f for f in USER_CREATE_REQUIRED if fields.get(f) in (None, "", [])]
            if exc.reason == "40035" and exc.field is None and missing:
                exc.field = missing[0]
            raise
        result = _result(payload)
        result = result if isinstance(result, dict) else {}
        userid = str(result.get("userid") or fields.get("userid") or "")
        # §3.1: create answers camel-case unionId; user/get answers unionid.
        unionid = result.get("unionId") or result.get("unionid") or result.get("union_id") or ""
        return CreatedUser(userid=userid, unionid=str(unionid))

    def update_user(
        self, userid: str, fields: dict[str, Any], *, clear_manager: bool = False
    ) -> None:
        """Change only the fields sent; ``clear_manager`` removes the direct manager (§3.2)."""
        body = {**_encode(fields), "userid": userid}
        if clear_manager:
            # dingtalk-api.md §3.2: force_update_fields is the only way to clear the manager.
            body.pop("manager_userid", None)
            body["force_update_fields"] = _add_to_comma_list(
                body.get("force_update_fields"), "manager_userid"
            )
        self._oapi("/topapi/v2/user/update", body, write=True)

    def delete_user(self, userid: str) -> bool:
        """Delete a user; return False when it was already gone (idempotent, §3.3)."""
        try:
            self._oapi("/topapi/v2/user/delete", {"userid": userid}, write=True)
        except DingTalkNotFound as exc:
            if exc.reason in USER_GONE:
                return False
            raise
        return True

    def get_user(self, userid: str) -> dict[str, Any]:
        """Return the user's details (``user/get`` result); raise DingTalkNotFound if absent."""
        return _as_dict(_result(self._oapi("/topapi/v2/user/get", {"userid": userid})))

    def find_user(self, userid: str) -> dict[str, Any] | None:
        """Return the user's details or None: the re-read after an AmbiguousWrite (§12.4)."""
        try:
            return self.get_user(userid)
        except DingTalkNotFound as exc:
            if exc.reason in USER_GONE or exc.reason == "40003":
                return None
            raise

    def list_department_user_ids(self, dept_id: int) -> list[str]:
        """Return the userids of the department's direct members (``user/listid``, no paging)."""
        result = _as_dict(_result(self._oapi("/topapi/user/listid", {"dept_id": dept_id})))
        return [str(u) for u in result.get("userid_list") or []]

    def iter_department_users(self, dept_id: int, size: int = USER_LIST_MAX_SIZE) -> Iterator[dict]:
        """Yield the department's direct members with details, paging ``v2/user/list``."""
        size = max(1, min(size, USER_LIST_MAX_SIZE))
        cursor = 0
        while True:
            body = {"dept_id": dept_id, "cursor": cursor, "size": size}
            page = _as_dict(_result(self._oapi("/topapi/v2/user/list", body)))
            users = page.get("list") or []
            yield from users
            if not page.get("has_more") or not users:
                return
            # dingtalk-api.md §10: next_cursor = cursor + size; fall back to that if omitted.
            nxt = _as_int(page.get("next_cursor"), cursor + len(users))
            if nxt <= cursor or nxt > USER_LIST_MAX_CURSOR:
                return
            cursor = nxt

    def iter_all_users(self) -> Iterator[dict]:
        """Yield every user once: walk departments from the root, de-duplicated by userid."""
        seen: set[str] = set()
        dept_ids = [ROOT_DEPT_ID]
        dept_ids.extend(int(d["dept_id"]) for d in self.iter_departments())
        for dept_id in dept_ids:
            for user in self.iter_department_users(dept_id):
                userid = str(user.get("userid", ""))
                if userid in seen:
                    continue
                seen.add(userid)
                yield user

    def get_userid_by_mobile(self, mobile: str) -> str | None:
        """Return the userid owning this mobile, or None (leavers can't be found, §3.6)."""
        try:
            payload = self._oapi("/topapi/v2/user/getbymobile", {"mobile": mobile})
        except DingTalkNotFound:
            return None
        userid = _as_dict(_result(payload)).get("userid")
        return str(userid) if userid else None

    def count_users(self, only_active: bool = False) -> int:
        """Return the number of users in the organisation (``user/count``)."""
        result = _result(self._oapi("/topapi/user/count", {"only_active": only_active}))
        if isinstance(result, dict):
            return _as_int(result.get("count"), 0)
        return _as_int(result, 0)

    # --- departments (dingtalk-api.md §4) -------------------------------------------------------

    def create_department(
        self,
        name: str,
        parent_id: int,
        *,
        order: int | None = None,
        source_identifier: str | None = None,
        adopt: bool = False,
        **extra: Any,
    ) -> int:
        """Create a department and return its id.

        On a name clash under the parent (60008 or 60021, dingtalk-api.md §4.1, §10) the sibling
        is looked up with ``listsub``: with ``adopt=True`` its id is returned; otherwise
        ``DepartmentNameTaken`` (a DingTalkConflict, ``field="name"``) is raised carrying
        ``dept_id`` of the existing sibling (None when it could not be found).
        """
        body: dict[str, Any] = {**_encode(extra), "name": name, "parent_id": parent_id}
        if order is not None:
            body["order"] = order
        if source_identifier is not None:
            body["source_identifier"] = source_identifier
        try:
            payload = self._oapi("/topapi/v2/department/create", body, write=True)
        except DingTalkConflict as exc:
            if exc.reason not in DEPT_NAME_TAKEN:
                raise
            sibling = self._child_named(parent_id, name)
            sibling_id = _as_int(sibling.get("dept_id"), 0) if sibling else 0
            if adopt and sibling_id:
                return sibling_id
            raise DepartmentNameTaken(
                exc.reason,
                exc.message,
                api=exc.api,
                field="name",
                request_id=exc.request_id,
                dept_id=sibling_id or None,
            ) from None
        result = _result(payload)
        dept_id = result.get("dept_id") if isinstance(result, dict) else result
        return _as_int(dept_id, 0)

    def update_department(
        self, dept_id: int, fields: dict[str, Any], *, clear_managers: bool = False
    ) -> None:
        """Change only the fields sent; ``clear_managers`` empties the manager list (§4.2)."""
        body = {**_encode(fields), "dept_id": dept_id}
        if clear_managers:
            # dingtalk-api.md §4.2: force_update_fields=dept_manager_userid_list clears managers.
            if not body.get("dept_manager_userid_list"):
                body.pop("dept_manager_userid_list", None)
            body["force_update_fields"] = _add_to_comma_list(
                body.get("force_update_fields"), "dept_manager_userid_list"
            )
        self._oapi("/topapi/v2/department/update", body, write=True)

    def delete_department(self, dept_id: int) -> bool:
        """Delete a department; return False when it was already gone (60003, §10)."""
        try:
            self._oapi("/topapi/v2/department/delete", {"dept_id": dept_id}, write=True)
        except DingTalkNotFound as exc:
            if exc.reason in DEPT_GONE:
                return False
            raise
        return True

    def get_department(self, dept_id: int) -> dict[str, Any]:
        """Return the department's details (``department/get``); raise DingTalkNotFound if gone."""
        return _as_dict(_result(self._oapi("/topapi/v2/department/get", {"dept_id": dept_id})))

    def find_department(
        self, parent_id: int, *, name: str | None = None, source_identifier: str | None = None
    ) -> dict[str, Any] | None:
        """Return the child of ``parent_id`` matching name and/or source_identifier, or None.

        The re-read after an AmbiguousWrite on create (dingtalk-api.md §12.4): ``listsub`` the
        parent, match by name, then ``department/get`` to compare ``source_identifier``.
        """
        if name is None and source_identifier is None:
            raise ValueError("find_department needs a name or a source_identifier")
        try:
            children = self.list_sub_departments(parent_id)
        except DingTalkNotFound:
            return None
        for child in children:
            if name is not None and child.get("name") != name:
                continue
            child_id = _as_int(child.get("dept_id"), 0)
            try:
                details = self.get_department(child_id)
            except DingTalkNotFound:
                continue  # deleted between listsub and get
            if source_identifier is not None and (
                str(details.get("source_identifier") or "") != source_identifier
            ):
                continue
            return details
        return None

    def list_sub_departments(self, dept_id: int = ROOT_DEPT_ID) -> list[dict[str, Any]]:
        """Return the direct children of a department (``listsub``, one level)."""
        result = _result(self._oapi("/topapi/v2/department/listsub", {"dept_id": dept_id}))
        if isinstance(result, dict):  # tolerate {"result": {"list": [...]}}
            result = result.get("list") or result.get("dept_list") or []
        return [d for d in result or [] if isinstance(d, dict)]

    def list_sub_department_ids(self, dept_id: int = ROOT_DEPT_ID) -> list[int]:
        """Return the ids of the direct children of a department (``listsubid``)."""
        result = _result(self._oapi("/topapi/v2/department/listsubid", {"dept_id": dept_id}))
        ids = result.get("dept_id_list") if isinstance(result, dict) else result
        return [int(i) for i in ids or []]

    def list_parent_department_ids(self, dept_id: int) -> list[int]:
        """Return ``[dept, parent, …, 1]`` for a department (``listparentbydept``)."""
        result = _result(self._oapi("/topapi/v2/department/listparentbydept", {"dept_id": dept_id}))
        ids = result.get("parent_id_list") if isinstance(result, dict) else result
        return [int(i) for i in ids or []]

    def iter_departments(self, root: int = ROOT_DEPT_ID) -> Iterator[dict[str, Any]]:
        """Yield every department below ``root`` (not the root itself), breadth-first."""
        queue = deque([root])
        seen = {root}
        while queue:
            parent = queue.popleft()
            for child in self.list_sub_departments(parent):
                child_id = _as_int(child.get("dept_id"), 0)
                if not child_id or child_id in seen:
                    continue
                seen.add(child_id)
                queue.append(child_id)
                yield child

    # --- roles (dingtalk-api.md §5) -------------------------------------------------------------

    def iter_role_groups(self, size: int = ROLE_LIST_MAX_SIZE) -> Iterator[dict[str, Any]]:
        """Yield the role groups ``{groupId, name, roles:[{id, name}]}``, paging ``role/list``."""
        size = max(1, min(size, ROLE_LIST_MAX_SIZE))
        offset = 0
        while True:
            page = _as_dict(
                _result(self._oapi("/topapi/role/list", {"offset": offset, "size": size}))
            )
            groups = page.get("list") or []
            yield from groups
            has_more = page.get("hasMore", page.get("has_more", False))
            if not has_more or not groups:
                return
            offset += size

    def iter_roles(self) -> Iterator[Role]:
        """Yield every role with its group."""
        for group in self.iter_role_groups():
            group_id = _as_int(group.get("groupId", group.get("group_id")), 0)
            group_name = str(group.get("name") or "")
            for role in group.get("roles") or []:
                yield Role(
                    role_id=_as_int(role.get("id", role.get("roleId")), 0),
                    name=str(role.get("name") or role.get("roleName") or ""),
                    group_id=group_id,
                    group_name=group_name,
                )

    def add_roles_for_users(self, role_ids: Iterable[int], userids: Iterable[str]) -> None:
        """Give every user every role, in calls of ≤20 roles × ≤20 users (§5)."""
        self._roles_for_users("/topapi/role/addrolesforemps", role_ids, userids, ROLE_ADD_MAX_USERS)

    def remove_roles_for_users(self, role_ids: Iterable[int], userids: Iterable[str]) -> None:
        """Take every role from every user, in calls of ≤20 roles × ≤100 users (§5)."""
        self._roles_for_users(
            "/topapi/role/removerolesforemps", role_ids, userids, ROLE_REMOVE_MAX_USERS
        )

    def add_role_group(self, name: str) -> int:
        """Create a role group and return its id (``/role/add_role_group``)."""
        payload = self._oapi("/role/add_role_group", {"name": name}, write=True)
        return _as_int(_field(payload, "groupId", "group_id"), 0)

    def add_role(self, name: str, group_id: int) -> int:
        """Create a role in a group and return its id (``/role/add_role``)."""
        payload = self._oapi("/role/add_role", {"roleName": name, "groupId": group_id}, write=True)
        return _as_int(_field(payload, "roleId", "role_id"), 0)

    def update_role(self, role_id: int, name: str) -> None:
        """Rename a role (``/role/update_role``; roles of the built-in group cannot be)."""
        self._oapi("/role/update_role", {"roleId": role_id, "roleName": name}, write=True)

    def _child_named(self, parent_id: int, name: str) -> dict[str, Any] | None:
        """Return the direct child of ``parent_id`` called ``name`` (listsub), or None."""
        try:
            children = self.list_sub_departments(parent_id)
        except DingTalkNotFound:
            return None
        return next((c for c in children if c.get("name") == name), None)

    def _roles_for_users(
        self, path: str, role_ids: Iterable[int], userids: Iterable[str], max_users: int
    ) -> None:
        roles = [str(r) for r in role_ids]
        users = [str(u) for u in userids]
        for role_chunk in _chunks(roles, ROLE_ADD_MAX_ROLES):
            for user_chunk in _chunks(users, max_users):
                body = {"roleIds": ",".join(role_chunk), "userIds": ",".join(user_chunk)}
                self._oapi(path, body, write=True)

    # --- leavers (dingtalk-api.md §6) -----------------------------------------------------------

    def iter_leave_records(
        self, start: datetime | str, end: datetime | str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Yield leave records ``{userId, name, stateCode, mobile, leaveTime, leaveReason}``."""
        query: dict[str, Any] = {"startTime": _iso(start), "maxResults": LEAVE_MAX_RESULTS}
        if end is not None:
            query["endTime"] = _iso(end)
        seen_tokens: set[str] = set()
        while True:
            page = _as_dict(self._call("v1", "GET", "/v1.0/contact/empLeaveRecords", query=query))
            yield from page.get("records") or []
            next_token = page.get("nextToken")
            if not next_token or str(next_token) in seen_tokens:
                return
            seen_tokens.add(str(next_token))
            query["nextToken"] = str(next_token)

    # --- the transport -------------------------------------------------------------------------

    def _oapi(self, path: str, body: dict[str, Any], *, write: bool = False) -> dict[str, Any]:
        return self._call("oapi", "POST", path, body=body, write=write)

    def _fetch_token(self) -> tuple[str, float]:
        """Fetch a token and tell the observer whether it worked."""
        self._count(token_fetches=1)
        try:
            fetched = self._fetch_token_once()
        except DingTalkError:
            if self._observer is not None:
                self._observer.token_fetched(False)
            raise
        if self._observer is not None:
            self._observer.token_fetched(True)
        return fetched

    def _fetch_token_once(self) -> tuple[str, float]:
        """Fetch a token: POST /v1.0/oauth2/accessToken, else GET /gettoken (§2.1, §2.2)."""
        if not self._use_gettoken:
            try:
                body = {"appKey": self.app_key, "appSecret": self._secret}
                payload = self._call("v1", "POST", V1_TOKEN_PATH, body=body, auth=False)
                token = str(payload.get("accessToken") or "")
                ttl = float(payload.get("expireIn") or payload.get("expires_in") or 7200)
                if token:
                    self._scrubber.add(token)
                    return token, ttl
            except DingTalkError as exc:
                # Only an answer the table does not know (e.g. errcode 404, "URI does not exist")
                # means the endpoint is missing; bad credentials or a busy server are raised.
                if type(exc) is not DingTalkError:
                    raise
            # A service without the new endpoint: use the old one from now on.
            log.info("DingTalk %s unavailable; using %s for tokens", V1_TOKEN_PATH, OAPI_TOKEN_PATH)
            self._use_gettoken = True
        query = {"appkey": self.app_key, "appsecret": self._secret}
        payload = self._call("oapi", "GET", OAPI_TOKEN_PATH, query=query, auth=False)
        token = str(payload.get("access_token") or "")
        if not token:
            raise DingTalkError("no-token", "token answer carried no access_token", api="/gettoken")
        self._scrubber.add(token)
        return token, float(payload.get("expires_in") or 7200)

    def _call(
        self,
        family: str,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        query: dict[str, Any] | None = None,
        write: bool = False,
        auth: bool = True,
    ) -> dict[str, Any]:
        """Send one logical call with the retry policy of the module docstring."""
        throttles = transients = 0
        auth_retried = False
        while True:
            self._breaker.check(path)
            token = self._tokens.get() if auth else ""
            waited = self._limiter.acquire(path, urgent=getattr(self._urgency, "on", False))
            self._count(requests=1, limiter_wait_s=waited)
            started = self._clock()
            failure = self._send(family, method, path, token=token, body=body, query=query)
            if self._observer is not None:
                outcome = "ok" if isinstance(failure, dict) else OUTCOMES[failure.rule.retry]
                self._observer.call_finished(path, outcome, self._clock() - started)
            for listener in self._listeners:
                code = "0" if isinstance(failure, dict) else failure.reason
                listener.call_answered(path, code, self._clock() - started)
            if isinstance(failure, dict):
                return failure
            rule, reason = failure.rule, failure.reason
            if rule.retry is Retry.BANNED:
                self._breaker.trip(failure.retry_after)
                log.error(
                    "DingTalk IP ban on %s: refusing calls for %.0f s", path, failure.retry_after
                )
                raise failure.error(path)
            if auth and not auth_retried and (reason in TOKEN_REASONS or rule.retry is Retry.AUTH):
                # dingtalk-api.md §12.1: drop the token and retry once.
                auth_retried = True
                self._tokens.invalidate(token)
                self._count(auth_retries=1)
                log.info(
                    "DingTalk token refused on %s (%s); refreshing and retrying once", path, reason
                )
                continue
            if rule.retry is Retry.THROTTLE:
                throttles += 1
                self._count(throttled=1)
                self._limiter.slow_down(path)
                if throttles > self._throttle_retries:
                    raise failure.error(path)
                # dingtalk-api.md §8, §12.3: sleep ≥1 s, then exponential with jitter.
                delay = min(8.0, 2.0 ** (throttles - 1)) * (1.0 + 0.25 * self._rng.random())
                log.info(
                    "DingTalk throttled %s (%s); retry %d in %.2f s", path, reason, throttles, delay
                )
                self._sleep(delay)
                continue
            if rule.retry is Retry.TRANSIENT:
                if write and failure.ambiguous:
                    # dingtalk-api.md §10, §12.4: no idempotency key; the caller must re-read.
                    raise failure.error(path, ambiguous=True)
                transients += 1
                if transients > self._transient_retries:
                    raise failure.error(path)
                self._count(transient_retries=1)
                delay = min(8.0, 0.5 * 2.0 ** (transients - 1)) * (1.0 + 0.5 * self._rng.random())
                log.warning(
                    "DingTalk %s failed (%s); retry %d in %.2f s", path, reason, transients, delay
                )
                self._sleep(delay)
                continue
            raise failure.error(path)

    def _send(
        self,
        family: str,
        method: str,
        path: str,
        *,
        token: str,
        body: dict[str, Any] | None,
        query: dict[str, Any] | None,
    ) -> dict[str, Any] | _Failure:
        """Send one HTTP request; return the success body or a classified failure."""
        base = self.oapi_url if family == "oapi" else self.api_url
        params = dict(query or {})
        headers: dict[str, str] = {}
        if token:
            if family == "oapi":
                params["access_token"] = token  # dingtalk-api.md §1: query string on oapi
            else:
                headers[TOKEN_HEADER] = token  # dingtalk-api.md §1: header only on v1.0
        try:
            response = self._session.request(
                method,
                base + path,
                params=params or None,
                json=body if method != "GET" else None,
                headers=headers or None,
                timeout=self._timeout,
            )
        except requests.ConnectTimeout:
            # Nothing was sent: safe to retry, even for a write.
            return self._failure("timeout", "connect timed out", ambiguous=False)
        except requests.Timeout:
            return self._failure("timeout", f"no answer within {self._timeout[1]} s")
        except requests.RequestException as exc:
            # A reset or refused connection; the write may have reached the server.
            return self._failure("connection", f"{type(exc).__name__}: {exc}")
        try:
            status = response.status_code
            try:
                payload: Any = response.json()
            except ValueError:
                payload = _NOT_JSON
        finally:
            response.close()
        return self._classify(status, payload)

    def _classify(self, status: int, payload: Any) -> dict[str, Any] | _Failure:
        """Normalise an answer (dingtalk-api.md §12.2) into a success body or a failure."""
        if isinstance(payload, dict) and str(payload.get("punish", "")).lower() == "deny":
            wait = _as_float(payload.get("wait"), 0.0)
            # dingtalk-api.md §8: {"wait":5, "punish":"deny"} with a five-minute ban.
            ban = max(DEFAULT_BAN_S, wait * 60.0)
            return _Failure("punish", "IP banned (punish: deny)", _BANNED_RULE, retry_after=ban)
        if not isinstance(payload, dict):
            if status >= 500:
                return self._failure(str(status), f"HTTP {status}")
            if status == 404:
                return _Failure("404", "HTTP 404", rule_for("404"))
            # dingtalk-api.md §8, §12.2: an HTML page instead of JSON means an IP ban.
            return _Failure("punish", f"HTTP {status} non-JSON answer", _BANNED_RULE, DEFAULT_BAN_S)
        request_id = str(payload.get("request_id") or payload.get("requestid") or "")
        wrapped = False
        if "errcode" in payload:
            code = _code_text(payload.get("errcode"))
            if code == "0":
                return payload
            message = str(payload.get("errmsg") or "")
            reason = code
            if code == "88":
                sub = payload.get("sub_code", payload.get("subcode"))
                if sub not in (None, ""):
                    reason, wrapped = _code_text(sub), True
                    message = str(payload.get("sub_msg") or payload.get("submsg") or message)
        else:
            if status < 400:
                return payload
            reason = str(payload.get("code") or status)
            message = str(payload.get("message") or "")
        rule = rule_for(reason, wrapped=wrapped, status=status)
        return _Failure(reason, self._scrubber.scrub(message), rule, request_id=request_id)

    def _failure(self, reason: str, message: str, *, ambiguous: bool = True) -> _Failure:
        return _Failure(reason, self._scrubber.scrub(message), rule_for("-1"), ambiguous=ambiguous)

    def _count(self, **deltas: float) -> None:
        with self._stats_lock:
            current = self._stats
            self._stats = ClientStats(
                **{
                    name: getattr(current, name) + deltas.get(name, 0)
                    for name in ClientStats.__dataclass_fields__
                }
            )


# --- helpers -------------------------------------------------------------------------------------


_NOT_JSON = object()
_BANNED_RULE = Rule(IpBanned, Retry.BANNED)


@dataclass(frozen=True)
class _Failure:
    """A classified failed answer, before it becomes an exception."""

    reason: str
    message: str
    rule: Rule
    retry_after: float = 0.0
    request_id: str = ""
    ambiguous: bool = True

    def error(self, api: str, *, ambiguous: bool = False) -> DingTalkError:
        """Build the exception to raise for this failure on ``api``."""
        if ambiguous:
            return AmbiguousWrite(
                self.reason,
                f"{self.message}; the write may have been applied, re-read before retrying",
                api=api,
                request_id=self.request_id,
            )
        cls = self.rule.error
        kwargs: dict[str, Any] = {"api": api, "request_id": self.request_id}
        if self.rule.field:
            kwargs["field"] = self.rule.field
        if cls is IpBanned:
            kwargs["retry_after"] = self.retry_after or DEFAULT_BAN_S
        elif cls is Throttled or cls is Transient:
            pass  # the class default retry_after applies
        return cls(self.reason, self.message, **kwargs)


class _TokenStore:
    """One cached token per app; refreshed ahead of expiry, single-flight under a lock (§2)."""

    def __init__(
        self, fetch: Callable[[], tuple[str, float]], *, clock: Clock, margin: float
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._margin = margin
        self._lock = threading.Lock()
        self._token = ""
        self._refresh_at = 0.0
        self._expires_at = 0.0

    def get(self) -> str:
        """Return a valid token, fetching one when none is cached or the old one is due."""
        with self._lock:
            now = self._clock()
            if self._token and now < self._refresh_at:
                return self._token
            try:
                token, ttl = self._fetch()
            except (Transient, Throttled) as exc:
                if self._token and now < self._expires_at:
                    # A proactive refresh failed but the old token still works: keep going.
                    log.warning(
                        "DingTalk token refresh failed (%s); keeping the old one", exc.reason
                    )
                    return self._token
                raise
            now = self._clock()
            # dingtalk-api.md §2.1: refresh about 5 minutes before expiry (sooner for short TTLs).
            self._token = token
            self._expires_at = now + ttl
            self._refresh_at = now + ttl - min(self._margin, ttl / 4)
            return token

    def invalidate(self, token: str) -> None:
        """Drop ``token`` if it is still the cached one (another thread may have refreshed)."""
        with self._lock:
            if self._token == token:
                self._token = ""
                self._refresh_at = self._expires_at = 0.0


class _Scrubber:
    """Removes the app secret and every token from text that may reach a log or an exception."""

    def __init__(self, secret: str) -> None:
        self._lock = threading.Lock()
        self._secrets: list[str] = [secret] if secret else []

    def add(self, value: str) -> None:
        """Remember one more value to hide."""
        with self._lock:
            if value and value not in self._secrets:
                self._secrets.append(value)
                del self._secrets[1:-16]  # the secret plus the last few tokens

    def scrub(self, text: str) -> str:
        """Return ``text`` with secrets and secret-bearing query parameters masked."""
        text = _redact_url_secrets(text)
        with self._lock:
            secrets = list(self._secrets)
        for value in secrets:
            text = text.replace(value, "***")
        return text


def _redact_url_secrets(text: str) -> str:
    return _SECRET_IN_URL.sub(r"\1=***", text)


class _RedactUrlSecrets(logging.Filter):
    """Masks ``access_token=``/``appsecret=`` in urllib3's request lines (logged at DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is not ours to fix
            return True
        redacted = _redact_url_secrets(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_redaction_lock = threading.Lock()


def _install_urllib3_redaction() -> None:
    """Attach the redaction filter to urllib3's connection-pool logger, once per process."""
    logger = logging.getLogger("urllib3.connectionpool")
    with _redaction_lock:
        if not any(isinstance(f, _RedactUrlSecrets) for f in logger.filters):
            logger.addFilter(_RedactUrlSecrets())


def _code_text(raw: Any) -> str:
    """Normalise an errcode/sub_code (number or numeric string, dingtalk-api.md §1) to text."""
    if isinstance(raw, bool):
        return str(int(raw))
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    text = str(raw).strip()
    try:
        return str(int(text))
    except ValueError:
        return text


def _result(payload: dict[str, Any]) -> Any:
    """Return the oapi ``result`` (dingtalk-api.md §1), or the whole body when there is none."""
    return payload.get("result", payload)


def _field(payload: dict[str, Any], *names: str) -> Any:
    """Return the first of ``names`` found in ``result`` or at the top level of the body."""
    for scope in (payload.get("result"), payload):
        if isinstance(scope, dict):
            for name in names:
                if scope.get(name) is not None:
                    return scope[name]
    return None


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _as_int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _as_float(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _encode(fields: dict[str, Any]) -> dict[str, Any]:
    """Encode list and object fields the way the docs send them (dingtalk-api.md §1, §3.1)."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key in _COMMA_LISTS and isinstance(value, list | tuple | set | frozenset):
            out[key] = ",".join(str(v) for v in value)
        elif key in _JSON_TEXT and isinstance(value, dict):
            out[key] = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        else:
            out[key] = value
    return out


def _add_to_comma_list(current: Any, item: str) -> str:
    items = [s for s in str(current or "").split(",") if s]
    if item not in items:
        items.append(item)
    return ",".join(items)


def _chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


def _iso(value: datetime | str) -> str:
    """Format a time as ISO-8601 UTC ``2021-01-06T11:47:37Z`` (dingtalk-api.md §6)."""
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
