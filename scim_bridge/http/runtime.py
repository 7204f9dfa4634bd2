"""What the HTTP layer is handed by the composition root: settings, database, clock, hooks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from scim_bridge.dingtalk.emulator.sandbox_model import SandboxReader
from scim_bridge.directory.db import Database
from scim_bridge.directory.paging import PageHints
from scim_bridge.monitor.api_load import InFlight
from scim_bridge.monitor.metrics import Metrics
from scim_bridge.settings import Settings


def utc_now() -> datetime:
    """Return the current time, timezone-aware UTC."""
    return datetime.now(UTC)


@dataclass
class Runtime:
    """Shared, long-lived objects of one API process."""

    settings: Settings
    db: Database
    clock: Callable[[], datetime] = utc_now
    hints: PageHints = field(default_factory=PageHints)
    #: Called after a transaction that wrote outbox rows commits (wakes the translator).
    on_outbox_commit: list[Callable[[], None]] = field(default_factory=list)
    #: Refuses a User DingTalk could never accept (SCIM_BRIDGE_REJECT_UNPROJECTABLE), or None.
    check_user: Callable[[Mapping[str, Any]], None] | None = None
    #: This process's Prometheus metrics (None: SCIM_BRIDGE_METRICS_ENABLED is off).
    metrics: Metrics | None = None
    #: The console's sandbox view: reads the built-in emulator's directory (None: not in use).
    sandbox: SandboxReader | None = None
    #: Issue 14 (perf): the requests being answered now; an embedded translator gives way.
    in_flight: InFlight = field(default_factory=InFlight)

    def outbox_committed(self) -> None:
        """Tell every listener that new outbox rows are committed."""
        for hook in self.on_outbox_commit:
            hook()
