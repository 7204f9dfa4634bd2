"""Reconcile results as a read model: the latest run, the history, the month's calls (issue 10).

The CLI (``reconcile --history``), /metrics and the console read the same rows
(``reconcile_runs``, written by sync/reconcile_runs.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from scim_bridge.directory.db import Database
from scim_bridge.directory.models import ReconcileRun

log = logging.getLogger("scim_bridge.monitor")

DONE = "done"


def aware(when: datetime) -> datetime:
    """Return a stored time as UTC-aware (SQLite hands them back naive, in UTC)."""
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


@dataclass(frozen=True)
class RunView:
    """One reconcile as operators read it."""

    id: int
    started_at: datetime
    finished_at: datetime | None
    status: str
    mode: str
    trigger: str
    applied: bool
    compared: int
    accuracy_percent: float | None
    drift: dict[str, int]
    calls_estimated: int
    calls_made: int
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        """Return the run as JSON-able data."""
        return {
            "id": self.id,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "status": self.status,
            "mode": self.mode,
            "trigger": self.trigger,
            "applied": self.applied,
            "compared": self.compared,
            "accuracy_percent": self.accuracy_percent,
            "drift": dict(self.drift),
            "calls_estimated": self.calls_estimated,
            "calls_made": self.calls_made,
            "error": self.error,
        }


def _view(row: ReconcileRun) -> RunView:
    return RunView(
        id=row.id,
        started_at=aware(row.started_at),
        finished_at=aware(row.finished_at) if row.finished_at else None,
        status=row.status,
        mode=row.mode,
        trigger=row.trigger,
        applied=row.applied,
        compared=row.compared,
        accuracy_percent=row.accuracy_percent,
        drift={str(k): int(v) for k, v in (row.drift or {}).items()},
        calls_estimated=row.calls_estimated,
        calls_made=row.calls_made,
        error=row.error,
    )


def history(session: Session, *, limit: int = 50) -> list[RunView]:
    """Return the most recent runs, newest first."""
    rows = session.scalars(select(ReconcileRun).order_by(ReconcileRun.id.desc()).limit(limit))
    return [_view(r) for r in rows]


def latest(session: Session, *, mode: str | None = None) -> RunView | None:
    """Return the newest finished run (of one mode, when given), or None."""
    query = select(ReconcileRun).where(ReconcileRun.status == DONE)
    if mode is not None:
        query = query.where(ReconcileRun.mode == mode)
    row = session.scalar(query.order_by(ReconcileRun.id.desc()).limit(1))
    return None if row is None else _view(row)


def calls_this_month(session: Session, *, now: datetime) -> int:
    """Return the DingTalk calls reconciles made since the start of ``now``'s month (UTC)."""
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    total = session.scalar(
        select(func.coalesce(func.sum(ReconcileRun.calls_made), 0)).where(
            ReconcileRun.started_at >= start
        )
    )
    return int(total or 0)


class ReconcileGauges(Collector):
    """The latest full or incremental reconcile's accuracy and drift, read at scrape time."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        """Yield the gauges; nothing when no reconcile has finished yet (or no database)."""
        try:
            with self._db.read() as session:
                run = _latest_survey(session)
        except SQLAlchemyError as exc:  # StoreGauges reports database_up 0 already
            log.warning("metrics: reconcile state not read: %s", type(exc).__name__)
            return
        if run is None:
            return
        if run.accuracy_percent is not None:  # none managed: no figure, rather than a false 0
            yield GaugeMetricFamily(
                "scim_bridge_reconcile_accuracy_percent",
                "Managed people whose DingTalk record is exactly right, at the latest reconcile.",
                value=run.accuracy_percent,
            )
        drift = GaugeMetricFamily(
            "scim_bridge_reconcile_drift",
            "Differences between DingTalk and the directory found by the latest reconcile.",
            labels=["kind"],
        )
        for kind, count in sorted(run.drift.items()):
            drift.add_metric([kind], count)
        yield drift
        yield GaugeMetricFamily(
            "scim_bridge_reconcile_age_seconds",
            "Seconds since the latest reconcile finished.",
            value=max(0.0, (self._clock() - (run.finished_at or run.started_at)).total_seconds()),
        )


def latest_accuracy(session: Session) -> float | None:
    """Return the accuracy the latest full or incremental reconcile measured, or None."""
    run = _latest_survey(session)
    return None if run is None else run.accuracy_percent


def _latest_survey(session: Session) -> RunView | None:
    """The newest run that looked at everything (a targeted one measures a handful of people)."""
    row = session.scalar(
        select(ReconcileRun)
        .where(ReconcileRun.status == DONE, ReconcileRun.mode != "targeted")
        .order_by(ReconcileRun.id.desc())
        .limit(1)
    )
    return None if row is None else _view(row)
