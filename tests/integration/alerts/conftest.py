"""Fixtures of the alert tests: an injected clock, the receiver, the alert job wired to it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alert_receiver import ROBOT_SECRET, Clock, Receiver, serve_receiver

from scim_bridge.bootstrap import build_alerting
from scim_bridge.directory.db import Database
from scim_bridge.settings import Settings
from scim_bridge.sync.alerting import AlertEngine


@pytest.fixture
def clock() -> Clock:
    """The tests' clock, moved by hand."""
    return Clock()


@pytest.fixture
def receiver(clock: Clock) -> Iterator[Receiver]:
    """The robot, ITSM and escalation endpoints on 127.0.0.1."""
    with serve_receiver(clock) as got:
        yield got


def alert_settings(database: Database, receiver: Receiver, **more: Any) -> Settings:
    """Settings with every channel pointed at the receiver."""
    return Settings(
        database_url=database.url,
        alert_dingtalk_webhook=receiver.robot_url,
        alert_dingtalk_secret=ROBOT_SECRET,
        alert_webhook_url=f"{receiver.url}/itsm",
        alert_escalation_webhook_url=f"{receiver.url}/escalation",
        **more,
    )


@pytest.fixture
def engine(database: Database, receiver: Receiver, clock: Clock) -> AlertEngine:
    """The alert job over every channel, on the injected clock (the robot's too)."""
    settings = alert_settings(database, receiver)
    return build_alerting(settings, database, clock=clock, environ={})
