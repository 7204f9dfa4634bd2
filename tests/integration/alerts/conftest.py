"""Fixtures of the alert tests: an injected clock, the receiver, the alert job wired to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alert_receiver import Clock, Receiver, serve_receiver
from alert_support import alert_settings

from scim_bridge.bootstrap import build_alerting
from scim_bridge.directory.db import Database
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


@pytest.fixture
def engine(database: Database, receiver: Receiver, clock: Clock) -> AlertEngine:
    """The alert job over every channel, on the injected clock (the robot's too)."""
    settings = alert_settings(database, receiver)
    return build_alerting(settings, database, clock=clock, environ={})
