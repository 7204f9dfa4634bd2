"""Shared helpers for the DingTalk client tests: a fake clock, a canned-answer server, builders.

The canned-answer server is not an emulator: it keeps no state and answers each request with the
next (status, body) it was given. It exists to put every row of the error table (dingtalk-api.md
§11) on the wire, including answers the emulator never gives (permission codes, IP bans, string
errcodes), over real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from scim_bridge.dingtalk.client import DingTalkClient
from scim_bridge.dingtalk.emulator import RunningEmulator

APP_KEY = "client-test-app-key"
APP_SECRET = "client-test-app-secret-5f3e9a"  # distinctive, so a leak is easy to spot
CANNED_TOKEN = "canned-token-7c1d0b42e9"


class FakeClock:
    """A monotonic clock that only moves when told; its ``sleep`` advances it (thread-safe)."""

    def __init__(self, start: float = 1_900_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        """Record the sleep and advance the clock instead of waiting."""
        with self._lock:
            self.sleeps.append(seconds)
            self._now += seconds


class FrozenSleep:
    """A sleep that records and returns at once without moving any clock."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)


@dataclass
class Recorded:
    """One request the canned server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class Canned:
    """Answers by path; a path's queue is consumed in order, its last answer repeats."""

    answers: dict[str, list[tuple[int, Any]]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set(self, path: str, *answers: tuple[int, Any]) -> None:
        """Give ``path`` a queue of answers (status, body); a str body is sent as text/html."""
        with self.lock:
            self.answers[path] = list(answers)

    def next_answer(self, path: str) -> tuple[int, Any]:
        """Pop the next answer for ``path`` (the last one repeats)."""
        with self.lock:
            queue = self.answers.get(path)
            if not queue:
                return 200, {"errcode": 404, "errmsg": "请求的URI地址不存在"}
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def calls(self, path: str) -> list[Recorded]:
        """Return the requests received on ``path``."""
        with self.lock:
            return [r for r in self.requests if r.path == path]


def ok(**result: Any) -> tuple[int, dict[str, Any]]:
    """An oapi success carrying ``result``."""
    return 200, {"errcode": 0, "errmsg": "ok", "result": result, "request_id": "req0"}


def oapi_error(errcode: Any, sub_code: str | None = None) -> tuple[int, dict[str, Any]]:
    """An oapi error, wrapped as 88/sub_code when ``sub_code`` is given (dingtalk-api.md §1)."""
    body: dict[str, Any] = {"errcode": errcode, "errmsg": "错误", "request_id": "req1"}
    if sub_code is not None:
        body.update(
            sub_code=sub_code, sub_msg="错误", errmsg=f"ding talk error[subcode={sub_code}]"
        )
    return 200, body


def v1_error(status: int, code: str) -> tuple[int, dict[str, Any]]:
    """A v1.0 error body with its HTTP status (dingtalk-api.md §1)."""
    return status, {"code": code, "message": "错误", "requestid": "req2"}


TOKEN_OK = (200, {"accessToken": CANNED_TOKEN, "expireIn": 7200})


def _handler(canned: Canned) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def _answer(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            with canned.lock:
                canned.requests.append(
                    Recorded(
                        self.command,
                        parts.path,
                        parse_qs(parts.query),
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                    )
                )
            status, answer = canned.next_answer(parts.path)
            if isinstance(answer, str):
                data, ctype = answer.encode(), "text/html;charset=utf-8"
            else:
                data, ctype = json.dumps(answer).encode(), "application/json;charset=utf-8"
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = _answer
        do_POST = _answer

    return Handler


@contextmanager
def canned_server() -> Iterator[tuple[str, Canned]]:
    """Run a canned-answer HTTP server on 127.0.0.1; yield (url, canned)."""
    canned = Canned()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(canned))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", canned
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def make_client(url: str, **overrides: Any) -> DingTalkClient:
    """Build a client for ``url`` (both API families on one host) with test-friendly defaults."""
    kwargs: dict[str, Any] = {
        "app_key": APP_KEY,
        "app_secret": APP_SECRET,
        "oapi_url": url,
        "api_url": url,
        "qps": 1000.0,
        "connect_timeout": 2.0,
        "read_timeout": 5.0,
    }
    kwargs.update(overrides)
    return DingTalkClient(**kwargs)


def emulator_client(emulator: RunningEmulator, **overrides: Any) -> DingTalkClient:
    """Build a client of a running emulator with its own credentials, unthrottled on our side
    (the emulator's quota, when set, is what the test meets); ``overrides`` as DingTalkClient."""
    cfg = emulator.emulator.config
    kwargs: dict[str, Any] = {
        "app_key": cfg.app_key,
        "app_secret": cfg.app_secret,
        "oapi_url": emulator.url,
        "api_url": emulator.url,
        "qps": 1000,
    }
    kwargs.update(overrides)
    return DingTalkClient(**kwargs)
