"""Gauges read from the database at scrape time: the same answer from every process (issue 12)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from scim_bridge.directory.db import Database
from scim_bridge.directory.models import BridgeState, DeadLetter, OutboxEntry
from scim_bridge.directory.outbox import Lane

log = logging.getLogger("scim_bridge.monitor")

#: The bridge_state key under which the mass-change guard records a pause (sync/guard.py).
GUARD_PAUSED_KEY = "guard.paused"


def _aware(when: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything is stored in UTC.
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


class StoreGauges(Collector):
    """Outbox depth, its oldest unapplied change, dead letters and the guard, counted now."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        """Yield the gauges; a database that does not answer gives ``database_up 0``, not a 500."""
        up = GaugeMetricFamily(
            "scim_bridge_database_up", "Whether the database answered this scrape (1) or not (0)."
        )
        try:
            lanes, dead, paused = self._read()
        except SQLAlchemyError as exc:
            log.warning("metrics: the database did not answer: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        # Issue 14: one series per priority lane, every lane always present (0 when empty), so
        # sum() is the old total and max() the old oldest age; alerts keep working unchanged.
        depth = GaugeMetricFamily(
            "scim_bridge_outbox_depth",
            "Resources with a change DingTalk has not acknowledged yet, per priority lane.",
            labels=["lane"],
        )
        age = GaugeMetricFamily(
            "scim_bridge_outbox_oldest_age_seconds",
            "Age of the oldest change not yet applied to DingTalk, per lane (0 when none waits).",
            labels=["lane"],
        )
        now = self._clock()
        for lane in Lane:
            count, oldest = lanes.get(lane, (0, None))
            depth.add_metric([lane.label], count)
            waited = 0.0 if oldest is None else (now - _aware(oldest)).total_seconds()
            age.add_metric([lane.label], max(0.0, waited))
        yield depth
        yield age
        yield GaugeMetricFamily(
            "scim_bridge_dead_letters",
            "Changes on the dead-letter list, waiting for an operator.",
            value=dead,
        )
        yield GaugeMetricFamily(
            "scim_bridge_guard_paused",
            "Whether the mass-change guard holds removals back for an operator (1) or not (0).",
            value=1 if paused else 0,
        )

    def _read(self) -> tuple[dict[Lane, tuple[int, datetime | None]], int, bool]:
        lanes: dict[Lane, tuple[int, datetime | None]] = {}
        with self._db.read() as session:
            # Two statements per lane, each answered from the (lane, first_changed_at) index
            # alone; one GROUP BY over the table is a scan (0.4 s at 100,000 rows on SQLite).
            for lane in Lane:
                count = session.scalar(
                    select(func.count()).select_from(OutboxEntry).where(OutboxEntry.lane == lane)
                )
                oldest = session.scalar(
                    select(func.min(OutboxEntry.first_changed_at)).where(OutboxEntry.lane == lane)
                )
                lanes[lane] = (int(count or 0), oldest)
            dead = session.scalar(select(func.count()).select_from(DeadLetter)) or 0
            paused = session.get(BridgeState, GUARD_PAUSED_KEY) is not None
        return lanes, int(dead), paused
