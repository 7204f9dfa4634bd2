"""The emulator's tunables: credentials, org identity, rate limits, latency and fault injection."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

#: Every fault the emulator can inject (see ``faults.py``).
FAULT_KINDS: tuple[str, ...] = ("http500", "http502", "busy", "timeout", "timeout_after_apply")


@dataclass
class EmulatorConfig:
    """Configure one emulated DingTalk org and the misbehaviour it shows its callers.

    ``clock`` drives token lifetimes, QPS windows, the IP limiter and leave times; freeze it in
    tests to control all four without sleeping. Latency and injected stalls use real time.
    """

    app_key: str = "emulator-app-key"
    app_secret: str = field(default="emulator-app-secret", repr=False)
    corp_id: str = "dingemulatorcorp"
    org_name: str = "Emulated Org"
    qps: float = 20.0  # per (app, API) per 1-second window; 0 = unlimited (dingtalk-api.md §8)
    latency: float = 0.0  # seconds added to every DingTalk call
    fail_rate: float = 0.0  # fraction of calls that get an injected fault
    fault_kinds: tuple[str, ...] = FAULT_KINDS
    faults_on_writes_only: bool = False
    timeout_stall: float = 15.0  # how long an injected timeout stalls before answering
    seed: int = 0
    token_ttl: float = 7200.0  # dingtalk-api.md §2.1
    ip_limit: int | None = None  # dingtalk-api.md §8: 10 000 per 20 s in production; off here
    ip_window: float = 20.0
    ip_ban: float = 300.0
    clock: Callable[[], float] = time.time
    # dingtalk-api.md §4.1 UNCERTAIN: 60008 (legacy table, field code) or 60021 (current table).
    # The emulator answers 60008 by default; set 60021 to exercise the other branch.
    dept_name_clash_code: int = 60008
    # Contact-change pushes (dingtalk-api.md §9; callbacks.py): where to, and the app's token
    # and 43-character EncodingAESKey. No URL: no pushes. The receiver id sealed in is the corp
    # id or the app key (empty: app_key). DingTalk retries a failed push after 10 s and 30 s
    # and wants the answer within 1.5 s.
    callback_url: str = ""
    callback_token: str = field(default="", repr=False)
    callback_aes_key: str = field(default="", repr=False)
    callback_receiver_id: str = ""
    callback_retry_delays: tuple[float, ...] = (10.0, 30.0)
    callback_timeout: float = 1.5

    def public(self) -> dict[str, object]:
        """Return the settings that GET /__emulator__/config shows (no secret, no clock)."""
        return {
            "app_key": self.app_key,
            "corp_id": self.corp_id,
            "org_name": self.org_name,
            "qps": self.qps,
            "latency": self.latency,
            "fail_rate": self.fail_rate,
            "fault_kinds": list(self.fault_kinds),
            "faults_on_writes_only": self.faults_on_writes_only,
            "timeout_stall": self.timeout_stall,
            "seed": self.seed,
            "token_ttl": self.token_ttl,
            "ip_limit": self.ip_limit,
            "ip_window": self.ip_window,
            "ip_ban": self.ip_ban,
            "dept_name_clash_code": self.dept_name_clash_code,
            "callback_url": self.callback_url,
            "callback_retry_delays": list(self.callback_retry_delays),
            "callback_timeout": self.callback_timeout,
        }
