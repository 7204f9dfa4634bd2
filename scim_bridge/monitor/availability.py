"""DingTalk's availability as our own calls saw it: per-minute UTC buckets and the SLA figures.

The accounting method (issue 12; stated in every report, ``METHOD`` below):

- Every HTTP request the bridge sends to DingTalk, and a cheap probe every
  ``sla_probe_seconds`` so idle minutes are measured too, is counted in its UTC minute by how
  it ended (monitor/sla_recorder.py). A minute with at least one answer or timeout is
  *measured*.
- A minute is *down* when more than ``sla_down_ratio`` of its calls failed DingTalk-side:
  HTTP 5xx, timeouts and refused connections, "system busy" (errcode -1) — the TRANSIENT class
  of dingtalk/errcodes.py. Failures we cause are counted apart and never charged to DingTalk:
  our 4xx and permanent errcodes, our credentials, our own throttling (88/90018, 9000x, 403
  Qps*) and the per-IP ban we earned.
- Minutes inside a declared maintenance window count neither as up nor as down: they leave the
  numerator and the denominator alike (monitor/maintenance.py).
- Monthly availability = 1 − evidenced down minutes / minutes in the month. A minute nobody
  measured cannot be claimed, so it counts as up. Month-to-date is the same over the minutes
  elapsed. The alert windows (``rolling_window``) use measured minutes only. Coverage
  (measured / elapsed minutes) stands beside every figure.

Months are computed in the reader's time zone (zoneinfo) from UTC storage: a month in
Asia/Hong_Kong starts at 16:00 UTC on the last day of the month before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from scim_bridge.directory.models import AvailabilityMinute, Incident
from scim_bridge.errors import ConfigError
from scim_bridge.monitor.maintenance import maintenance_minutes

MINUTE = timedelta(minutes=1)

#: The accounting method, in words a risk committee reads (the report prints it).
METHOD = (
    "Availability is measured from the bridge's own calls to the DingTalk Open API plus a cheap "
    "probe every {probe:g} seconds, counted per UTC minute. A minute is down when more than "
    "{ratio:.0%} of its calls failed on DingTalk's side (HTTP 5xx, timeouts, 'system busy'). "
    "Failures the bridge causes (its own 4xx and permanent errors, bad credentials, its own "
    "throttling, an IP ban it earned) are counted apart and never charged to DingTalk. "
    "Declared maintenance windows are excluded. Monthly availability = 1 - evidenced down "
    "minutes / minutes in the month: a minute nobody measured cannot be claimed and counts as "
    "up; coverage (measured / elapsed minutes) is shown beside every figure. Month boundaries "
    "are computed in {tz} from UTC measurements."
)


def aware(when: datetime) -> datetime:
    """Return ``when`` as timezone-aware UTC (SQLite hands stored times back naive, in UTC)."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def floor_minute(when: datetime) -> datetime:
    """Return the start of the UTC minute ``when`` falls in."""
    return aware(when).replace(second=0, microsecond=0)


def zone(tz: str) -> ZoneInfo:
    """Return the IANA time zone ``tz``; an unknown name is a ConfigError saying so."""
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"time zone {tz!r} is not an IANA zone name; use e.g. UTC or Asia/Hong_Kong"
        ) from None


def parse_month(text: str) -> date:
    """Return the first day of the month ``YYYY-MM``; anything else is a ConfigError."""
    try:
        year, month = (int(part) for part in text.split("-"))
        return date(year, month, 1)
    except ValueError:
        raise ConfigError(f"month {text!r} is not YYYY-MM; use e.g. 2026-11") from None


def month_bounds(first: date, tz: str = "UTC") -> tuple[datetime, datetime]:
    """Return the UTC instants where the month of ``first`` starts and ends in zone ``tz``."""
    where = zone(tz)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    start = datetime(first.year, first.month, 1, tzinfo=where)
    end = datetime(following.year, following.month, 1, tzinfo=where)
    return start.astimezone(UTC), end.astimezone(UTC)


@dataclass(frozen=True)
class WindowFigure:
    """Availability over a span: percent (None when nothing counts), and the minutes behind it."""

    percent: float | None
    measured_minutes: int
    down_minutes: int
    elapsed_minutes: int  # minutes of the span so far, maintenance excluded

    @property
    def coverage_percent(self) -> float | None:
        """Return measured / elapsed minutes, in percent (None for an empty span)."""
        if self.elapsed_minutes <= 0:
            return None
        return 100.0 * min(self.measured_minutes, self.elapsed_minutes) / self.elapsed_minutes


def measured_minutes(session: Session, start: datetime, end: datetime) -> dict[datetime, bool]:
    """Return {minute: down} for every measured minute in [start, end), maintenance included."""
    m = AvailabilityMinute
    total = m.ok + m.transient + m.rejected + m.throttled + m.banned
    rows = session.execute(
        select(m.minute, m.down).where(m.minute >= start, m.minute < end, total > 0)
    ).all()
    return {aware(minute): bool(down) for minute, down in rows}


@dataclass(frozen=True)
class Evidence:
    """The minutes of a span: {measured minute: down} and the maintenance minutes left out."""

    seen: dict[datetime, bool]
    excluded: set[datetime]
    elapsed: int  # minutes of the span, maintenance excluded

    def figure(self, *, unmeasured_is_up: bool) -> WindowFigure:
        """Return the span's availability: over elapsed minutes, or over measured ones only."""
        down = sum(self.seen.values())
        base = self.elapsed if unmeasured_is_up else len(self.seen)
        percent = None if base <= 0 else 100.0 * (1.0 - down / base)
        return WindowFigure(percent, len(self.seen), down, max(0, self.elapsed))


def evidence(session: Session, start: datetime, end: datetime) -> Evidence:
    """Read the minutes of [start, end) (whole UTC minutes), maintenance left out."""
    start, end = floor_minute(start), floor_minute(end)
    if end <= start:
        return Evidence({}, set(), 0)
    excluded = maintenance_minutes(session, start, end)
    seen = {k: v for k, v in measured_minutes(session, start, end).items() if k not in excluded}
    return Evidence(seen, excluded, int((end - start) / MINUTE) - len(excluded))


def _span(
    session: Session, start: datetime, end: datetime, *, unmeasured_is_up: bool
) -> WindowFigure:
    return evidence(session, start, end).figure(unmeasured_is_up=unmeasured_is_up)


def rolling_window(session: Session, *, now: datetime, minutes: int) -> WindowFigure:
    """Availability over the last ``minutes`` complete minutes, measured minutes only (alerts)."""
    end = floor_minute(now)
    return _span(session, end - minutes * MINUTE, end, unmeasured_is_up=False)


def month_to_date(session: Session, *, now: datetime, tz: str = "UTC") -> WindowFigure:
    """Availability from the start of this month in ``tz`` to the last complete minute."""
    local = aware(now).astimezone(zone(tz))
    start, _end = month_bounds(date(local.year, local.month, 1), tz)
    return _span(session, start, now, unmeasured_is_up=True)


def month_figure(
    session: Session, *, first: date, tz: str = "UTC", now: datetime | None = None
) -> WindowFigure:
    """Availability of the whole month of ``first`` in ``tz`` (up to ``now`` if it is running)."""
    start, end = month_bounds(first, tz)
    if now is not None:
        end = min(end, floor_minute(now))
    return _span(session, start, end, unmeasured_is_up=True)


def open_incident(session: Session) -> Incident | None:
    """Return the incident still open (DingTalk down now, as far as we know), or None."""
    return session.scalars(
        select(Incident).where(Incident.ended_at.is_(None)).order_by(Incident.started_at.desc())
    ).first()
