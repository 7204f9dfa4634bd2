"""DingTalk availability gauges, read from the minute buckets at scrape time (issue 12).

Like monitor/gauges.py: computed from the database when scraped, so every process answers
the same. ``window="60m"`` is the alert window (measured minutes only); ``window="mtd"`` the
month to date in UTC (unmeasured minutes count as up). A window with nothing to divide has no
sample at all, rather than a made-up 1 or 0; coverage says how much was measured.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from scim_bridge.directory.db import Database
from scim_bridge.monitor.availability import WindowFigure, month_to_date, rolling_window

log = logging.getLogger("scim_bridge.monitor")


class AvailabilityGauges(Collector):
    """scim_bridge_dingtalk_availability_ratio and its coverage, for 60 minutes and the month."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        """Yield the two gauges (nothing if the database does not answer: StoreGauges says so)."""
        try:
            now = self._clock()
            with self._db.read() as session:
                figures = {
                    "60m": rolling_window(session, now=now, minutes=60),
                    "mtd": month_to_date(session, now=now, tz="UTC"),
                }
        except SQLAlchemyError as exc:
            log.warning("metrics: availability not read: %s", type(exc).__name__)
            return
        ratio = GaugeMetricFamily(
            "scim_bridge_dingtalk_availability_ratio",
            "DingTalk availability from our own calls: 60m over measured minutes only, mtd "
            "over elapsed minutes (unmeasured count as up); maintenance excluded.",
            labels=["window"],
        )
        coverage = GaugeMetricFamily(
            "scim_bridge_dingtalk_availability_coverage_ratio",
            "Measured minutes / elapsed minutes of the same window.",
            labels=["window"],
        )
        for window, figure in figures.items():
            _add(ratio, coverage, window, figure)
        yield ratio
        yield coverage


def _add(
    ratio: GaugeMetricFamily, coverage: GaugeMetricFamily, window: str, figure: WindowFigure
) -> None:
    if figure.percent is not None:
        ratio.add_metric([window], figure.percent / 100.0)
    if figure.coverage_percent is not None:
        coverage.add_metric([window], figure.coverage_percent / 100.0)
