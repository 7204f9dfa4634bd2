"""A DingTalk custom robot ("自定义机器人"): signed, markdown, at most 20 messages a minute.

open.dingtalk.com/document/robots/customize-robot-security-settings: with the "加签" (sign)
security setting the webhook takes ``timestamp`` (ms) and ``sign`` = URL-encoded base64 of
HMAC-SHA256(key=secret, message=timestamp + "\\n" + secret), and refuses a timestamp more than
an hour off. open.dingtalk.com/document/robots/custom-robot-access: each robot takes at most 20
messages a minute, and one that sends more is throttled for 10 minutes (errcode 130101). So a
send is one markdown message however many notices it carries (a digest), and this channel
counts its own messages over a sliding minute before DingTalk has to.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

import requests

from scim_bridge.notify.message import FIRING, Delivery, Notice, Report
from scim_bridge.notify.transport import post_json

#: The robot's limit (custom-robot-access), and its window in seconds.
PER_MINUTE = 20
WINDOW = 60.0
#: DingTalk throttles a robot that exceeded the limit for ten minutes.
THROTTLED_FOR = 600.0
#: errcodes of the robot API: throttled, and "signature, keyword or IP not allowed".
SEND_TOO_FAST = 130101
SECURITY_REFUSED = 310000
#: Notices listed in one digest; the rest are counted (a markdown text is limited to ~20 KB).
DIGEST_LINES = 30


def sign(secret: str, timestamp_ms: int) -> str:
    """Return the robot's ``sign``: base64 HMAC-SHA256 of "timestamp\\nsecret" keyed by secret.

    The query encoding (the "urlEncode" step of DingTalk's recipe) is left to the HTTP client,
    which percent-encodes query values; encoding here too would encode it twice."""
    message = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def digest(notices: Sequence[Notice]) -> dict[str, str]:
    """Return one markdown message (title and text) listing ``notices``."""
    firing = sum(1 for n in notices if n.status == FIRING)
    resolved = len(notices) - firing
    title = f"scim-bridge: {firing} firing, {resolved} resolved"
    if len(notices) == 1:
        title = f"scim-bridge: {notices[0].headline()}"[:64]
    lines = [f"### {title}", ""]
    for notice in notices[:DIGEST_LINES]:
        verb = "🔥 **FIRING**" if notice.status == FIRING else "✅ **RESOLVED**"
        under = notice.labels.get("grouped_under")
        if under:  # caused by the outage above it: a line of its digest, not a page
            verb = f"↳ grouped under `{under}`: {verb}"
        lines.append(f"- {verb} `{notice.rule}` **{notice.severity}**: {notice.summary}")
        lines.append(f"  (key `{notice.key}`, since {notice.started_at})")
    if len(notices) > DIGEST_LINES:
        lines.append(f"- … and {len(notices) - DIGEST_LINES} more: `scim-bridge alerts list`")
    return {"title": title, "text": "\n".join(lines)}


class RobotChannel:
    """Send notices to one DingTalk custom robot, as one signed markdown message per send."""

    name = "dingtalk_robot"

    def __init__(
        self,
        webhook: str,
        secret: str,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._webhook = webhook
        self._secret = secret
        self._session = session or requests.Session()
        self._clock = clock
        self._sent: deque[float] = deque()
        self._blocked_until = 0.0
        self._lock = threading.Lock()

    def _admit(self, now: float) -> float | None:
        """Count one message against the minute; return seconds to wait when it is full."""
        with self._lock:
            if now < self._blocked_until:
                return self._blocked_until - now
            while self._sent and self._sent[0] <= now - WINDOW:
                self._sent.popleft()
            if len(self._sent) >= PER_MINUTE:
                return self._sent[0] + WINDOW - now
            self._sent.append(now)
            return None

    def send(self, notices: Sequence[Notice]) -> Delivery:
        """Send the notices as one message (never raises)."""
        if not notices:
            return Delivery(True)
        return self._post(digest(notices))

    def send_report(self, report: Report) -> Delivery:
        """Send a report's markdown as one message (never raises)."""
        return self._post({"title": report.title[:64], "text": report.markdown})

    def _post(self, markdown: dict[str, str]) -> Delivery:
        now = self._clock()
        wait = self._admit(now)
        if wait is not None:
            return Delivery(
                False, f"robot limit of {PER_MINUTE} messages a minute reached", retry_after=wait
            )
        params = {"timestamp": str(int(now * 1000))}
        if self._secret:
            params["sign"] = sign(self._secret, int(params["timestamp"]))
        body = {"msgtype": "markdown", "markdown": markdown}
        delivery, answer = post_json(self._session, self._webhook, body, params=params)
        if not delivery.ok:
            return delivery
        code = answer.get("errcode") if isinstance(answer, dict) else None
        if code in (0, None):
            return delivery
        if code == SEND_TOO_FAST:
            with self._lock:
                self._blocked_until = now + THROTTLED_FOR
            return Delivery(False, "the robot is throttled (errcode 130101)", THROTTLED_FOR)
        if code == SECURITY_REFUSED:
            return Delivery(
                False,
                "the robot refused the message (errcode 310000): check "
                "SCIM_BRIDGE_ALERT_DINGTALK_SECRET and the robot's security settings",
            )
        return Delivery(False, f"the robot answered errcode {code}")
