"""The figures of the monthly SLA report, from UTC storage, in the reader's time zone (issue 12).

Every figure comes with the minutes behind it. Sources: availability from
``availability_minutes`` (monitor/availability.py states the method); incidents from
``incidents``; sync lag and changes processed from ``sync_lag_minutes`` (each change DingTalk
acknowledged, with the seconds since its first unapplied SCIM commit, bucketed like the
``scim_bridge_sync_lag_seconds`` histogram, so a percentile is the upper bound of its bucket);
dead letters from ``dead_letters`` created in the month (a letter retried since is gone);
accuracy from ``reconcile_runs`` when reconcile has recorded runs, else "not measured".
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from scim_bridge.directory.models import DeadLetter, SyncLagMinute
from scim_bridge.monitor.availability import (
    METHOD,
    MINUTE,
    aware,
    evidence,
    floor_minute,
    month_bounds,
    zone,
)
from scim_bridge.monitor.credits import CreditTable
from scim_bridge.monitor.incidents import incidents_between
from scim_bridge.monitor.sla_recorder import INF

PERCENTILES = (50, 90, 99)
NOT_MEASURED = "not measured"


@dataclass(frozen=True)
class IncidentFigure:
    """One incident, its times in the report's zone (end None: still open)."""

    start: str
    end: str | None
    minutes: int
    apis: list[str]
    errcodes: list[str]


@dataclass(frozen=True)
class DayFigure:
    """One day of the month in the report's zone."""

    day: str
    percent: float | None
    down_minutes: int
    measured_minutes: int
    elapsed_minutes: int


@dataclass(frozen=True)
class LagFigure:
    """Sync-lag percentiles (seconds, a bucket's upper bound; None: above the last bucket)."""

    source: str
    changes: int
    percentiles: dict[str, float | None]


@dataclass(frozen=True)
class SlaFigures:
    """Everything the report shows; ``as_json`` is the JSON format."""

    month: str
    tz: str
    target_percent: float
    availability_percent: float | None
    met_target: bool | None
    downtime_minutes: int
    measured_minutes: int
    elapsed_minutes: int
    minutes_in_month: int
    maintenance_minutes: int
    coverage_percent: float | None
    complete: bool
    incidents: list[IncidentFigure]
    credit_percent: float
    credit_table: str
    daily: list[DayFigure]
    sync_lag: LagFigure
    changes_processed: int
    dead_letters: int
    accuracy_percent: float | None
    accuracy_source: str
    method: str
    generated_at: str

    def as_json(self) -> dict[str, Any]:
        """Return the figures as plain JSON data."""
        return asdict(self)


@dataclass(frozen=True)
class ReportPolicy:
    """What the report is measured against: target, credits, and the method's parameters."""

    target_percent: float
    credits: CreditTable
    probe_seconds: float
    down_ratio: float


def build(
    session: Session, *, month: date, tz: str, policy: ReportPolicy, now: datetime
) -> SlaFigures:
    """Compute the report of ``month`` in zone ``tz`` as the store stands at ``now``."""
    where = zone(tz)
    start, end = month_bounds(month, tz)
    upto = max(start, min(end, floor_minute(now)))
    minutes = evidence(session, start, upto)
    whole = minutes.figure(unmeasured_is_up=True)
    percent, elapsed = whole.percent, whole.elapsed_minutes
    lag = _lag(session, start, upto)
    accuracy = _accuracy(session, start, upto)
    return SlaFigures(
        month=f"{month.year:04d}-{month.month:02d}",
        tz=tz,
        target_percent=policy.target_percent,
        availability_percent=percent,
        met_target=None if percent is None else percent >= policy.target_percent,
        downtime_minutes=whole.down_minutes,
        measured_minutes=whole.measured_minutes,
        elapsed_minutes=elapsed,
        minutes_in_month=int((end - start) / MINUTE),
        maintenance_minutes=len(minutes.excluded),
        coverage_percent=whole.coverage_percent,
        complete=upto >= end,
        incidents=[
            IncidentFigure(
                start=aware(i.started_at).astimezone(where).isoformat(),
                end=None if i.ended_at is None else aware(i.ended_at).astimezone(where).isoformat(),
                minutes=i.down_minutes,
                apis=list(i.apis.get("seen", [])),
                errcodes=list(i.errcodes.get("seen", [])),
            )
            for i in incidents_between(session, start, upto)
        ],
        credit_percent=policy.credits.credit_percent(percent),
        credit_table=policy.credits.describe(),
        daily=_daily(start, upto, tz, minutes.seen, minutes.excluded),
        sync_lag=lag,
        changes_processed=lag.changes,
        dead_letters=_dead_letters(session, start, upto),
        accuracy_percent=accuracy,
        accuracy_source="reconcile_runs" if accuracy is not None else NOT_MEASURED,
        method=METHOD.format(probe=policy.probe_seconds, ratio=policy.down_ratio, tz=tz),
        generated_at=aware(now).astimezone(where).isoformat(timespec="seconds"),
    )


def _daily(
    start: datetime, upto: datetime, tz: str, seen: dict[datetime, bool], excluded: set[datetime]
) -> list[DayFigure]:
    """Split the month into its days in ``tz`` (a DST day has 23 or 25 hours: so be it)."""
    where = zone(tz)
    down_by_day: Counter[date] = Counter()
    seen_by_day: Counter[date] = Counter()
    out_by_day: Counter[date] = Counter()
    for minute, is_down in seen.items():
        day = minute.astimezone(where).date()
        seen_by_day[day] += 1
        down_by_day[day] += int(is_down)
    for minute in excluded:
        out_by_day[minute.astimezone(where).date()] += 1
    out: list[DayFigure] = []
    local = start.astimezone(where).date()
    while True:
        nxt = local + timedelta(days=1)
        lo = datetime(local.year, local.month, local.day, tzinfo=where).astimezone(start.tzinfo)
        hi = datetime(nxt.year, nxt.month, nxt.day, tzinfo=where).astimezone(start.tzinfo)
        if lo >= upto:
            return out
        elapsed = int((min(hi, upto) - lo) / MINUTE) - out_by_day[local]
        down = down_by_day[local]
        percent = None if elapsed <= 0 else 100.0 * (1.0 - down / elapsed)
        out.append(DayFigure(local.isoformat(), percent, down, seen_by_day[local], elapsed))
        local = nxt


def _lag(session: Session, start: datetime, end: datetime) -> LagFigure:
    rows = session.execute(
        select(SyncLagMinute.le, func.sum(SyncLagMinute.count))
        .where(SyncLagMinute.minute >= start, SyncLagMinute.minute < end)
        .group_by(SyncLagMinute.le)
        .order_by(SyncLagMinute.le)
    ).all()
    total = sum(int(count) for _, count in rows)
    percentiles: dict[str, float | None] = {}
    for p in PERCENTILES:
        percentiles[f"p{p}"] = None
        running = 0
        for le, count in rows:
            running += int(count)
            if total and running * 100 >= p * total:
                percentiles[f"p{p}"] = None if le >= INF else float(le)
                break
    return LagFigure("sync_lag_minutes (histogram bucket upper bounds)", total, percentiles)


def _dead_letters(session: Session, start: datetime, end: datetime) -> int:
    found = session.scalar(
        select(func.count())
        .select_from(DeadLetter)
        .where(DeadLetter.created_at >= start, DeadLetter.created_at < end)
    )
    return int(found or 0)


def _accuracy(session: Session, start: datetime, end: datetime) -> float | None:
    """Mean reconcile accuracy of the month, if reconcile records runs with an accuracy."""
    bind = session.get_bind()
    try:
        columns = {c["name"] for c in inspect(bind).get_columns("reconcile_runs")}
    except SQLAlchemyError:
        return None  # no reconcile_runs table (reconcile is not merged or not migrated)
    time_column = next((c for c in ("finished_at", "started_at", "at") if c in columns), None)
    if "accuracy" not in columns or time_column is None:
        return None
    # The column name comes from the allow-list above, never from input.
    query = (
        f"SELECT avg(accuracy) FROM reconcile_runs WHERE {time_column} >= :s AND {time_column} < :e"  # noqa: S608
    )
    value = session.execute(text(query), {"s": start, "e": end}).scalar()
    if value is None:
        return None
    # A fraction (0..1) or a percentage: report a percentage either way.
    return float(value) * 100.0 if float(value) <= 1.0 else float(value)
