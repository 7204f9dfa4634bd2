"""A real HTTP receiver on 127.0.0.1 for the alert tests: it plays a DingTalk custom robot
(checking the signature and the 20-a-minute limit as DingTalk does) and an ITSM tool
(recording JSON bodies, failing on demand); and the clock the tests move by hand."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROBOT_TOKEN = "robot-access-token-0123"
ROBOT_SECRET = "SEC-robot-signing-secret"
START = datetime(2026, 12, 7, 1, 0, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand; the robot's epoch-seconds view of the same time."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def epoch(self) -> float:
        return self.now.timestamp()

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Receiver:
    """What the receiver got, and how it is told to answer."""

    clock: Clock
    robot: list[dict[str, Any]] = field(default_factory=list)
    robot_refused: list[int] = field(default_factory=list)  # errcodes it answered
    itsm: list[dict[str, Any]] = field(default_factory=list)
    escalation: list[dict[str, Any]] = field(default_factory=list)
    itsm_failures: int = 0  # answer the next N ITSM posts with HTTP 500
    url: str = ""
    _robot_times: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def robot_url(self) -> str:
        return f"{self.url}/robot/send?access_token={ROBOT_TOKEN}"

    def robot_errcode(self, query: dict[str, list[str]]) -> int:
        """Check a robot call as DingTalk does (customize-robot-security-settings)."""
        if query.get("access_token") != [ROBOT_TOKEN]:
            return 300001  # token is not exist
        try:
            timestamp = int(query["timestamp"][0])
            given = query["sign"][0]  # parse_qs has undone the URL encoding
        except (KeyError, ValueError):
            return 310000
        now = self.clock.epoch()
        if abs(now * 1000 - timestamp) > 3600 * 1000:  # more than an hour off
            return 310000
        string_to_sign = f"{timestamp}\n{ROBOT_SECRET}".encode()
        expected = base64.b64encode(
            hmac.new(ROBOT_SECRET.encode(), string_to_sign, hashlib.sha256).digest()
        ).decode()
        if not hmac.compare_digest(given, expected):
            return 310000
        recent = [t for t in self._robot_times if t > now - 60]
        if len(recent) >= 20:  # custom-robot-access: 20 messages a minute
            return 130101
        self._robot_times = [*recent, now]
        return 0


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with receiver.lock:
                if parts.path == "/robot/send":
                    code = receiver.robot_errcode(parse_qs(parts.query))
                    if code:
                        receiver.robot_refused.append(code)
                    else:
                        receiver.robot.append(body)
                    self._answer(200, {"errcode": code, "errmsg": "ok" if not code else "no"})
                    return
                if parts.path == "/itsm":
                    if receiver.itsm_failures > 0:
                        receiver.itsm_failures -= 1
                        self._answer(500, {"error": "down"})
                        return
                    receiver.itsm.append(body)
                elif parts.path == "/escalation":
                    receiver.escalation.append(body)
                else:
                    self._answer(404, {})
                    return
            self._answer(200, {"ok": True})

    return Handler


@contextmanager
def serve_receiver(clock: Clock) -> Iterator[Receiver]:
    """Serve the robot, ITSM and escalation endpoints on 127.0.0.1 while the block runs."""
    got = Receiver(clock)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(got))
    got.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield got
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
