"""Helpers the monitor tests share: a hand-moved clock, a client of the emulator with metrics."""

from __future__ import annotations

from datetime import UTC, datetime

from scim_bridge.dingtalk.client import DingTalkClient
from scim_bridge.dingtalk.emulator import RunningEmulator
from scim_bridge.monitor.metrics import Metrics

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def emulator_client(emulator: RunningEmulator, metrics: Metrics, **kw: object) -> DingTalkClient:
    """A client for the emulator that reports to ``metrics``."""
    cfg = emulator.emulator.config
    options: dict[str, object] = {
        "app_key": cfg.app_key,
        "app_secret": cfg.app_secret,
        "oapi_url": emulator.url,
        "api_url": emulator.url,
        "qps": 1000,
        "observer": metrics,
        **kw,
    }
    return DingTalkClient(**options)  # type: ignore[arg-type]
