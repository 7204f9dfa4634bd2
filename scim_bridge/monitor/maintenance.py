"""Declared maintenance windows: minutes the SLA counts neither as up nor as down (issue 12).

Windows come from two places: ``sla_maintenance_windows`` in the settings (copied into the
table by the worker, ``source="settings"``, so every process and report sees the same list) and
``scim-bridge maintenance add`` (``source="cli"``). A minute is excluded when any part of it
falls inside a window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from scim_bridge.directory.models import MaintenanceWindow
from scim_bridge.errors import ConfigError

MINUTE = timedelta(minutes=1)
SETTING = "sla_maintenance_windows"
#: The longest window accepted: a typo in a year must not silently exclude a quarter.
LONGEST = timedelta(days=7)


@dataclass(frozen=True)
class Declared:
    """One window as declared: start, end (exclusive), and why."""

    starts_at: datetime
    ends_at: datetime
    reason: str


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def parse_instant(text: str, *, name: str) -> datetime:
    """Parse an ISO 8601 instant with an offset (``2026-11-03T02:00+08:00``, ``...Z``)."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"{name} {text!r} is not an ISO 8601 time; use e.g. 2026-11-03T02:00+08:00"
        ) from None
    if when.tzinfo is None:
        raise ConfigError(f"{name} {text!r} has no UTC offset; add one, e.g. +08:00 or Z")
    return when.astimezone(UTC)


def declared(starts_at: datetime, ends_at: datetime, reason: str) -> Declared:
    """Check one window (start before end, at most a week, a reason) and return it."""
    if ends_at <= starts_at:
        raise ConfigError("a maintenance window must end after it starts; check --start/--end")
    if ends_at - starts_at > LONGEST:
        raise ConfigError("a maintenance window may last at most 7 days; declare several")
    if not reason.strip():
        raise ConfigError("a maintenance window needs a reason; pass --reason")
    return Declared(_utc(starts_at), _utc(ends_at), reason.strip()[:500])


def parse_setting(text: str) -> list[Declared]:
    """Parse ``START/END reason; START/END reason`` (the setting's format)."""
    out: list[Declared] = []
    for item in (part.strip() for part in text.split(";")):
        if not item:
            continue
        span, _, reason = item.partition(" ")
        start, slash, end = span.partition("/")
        if not slash:
            raise ConfigError(
                f"setting {SETTING}: {item!r} is not START/END reason; e.g. "
                "2026-11-03T02:00+08:00/2026-11-03T04:00+08:00 upgrade"
            )
        try:
            window = declared(
                parse_instant(start, name="start"),
                parse_instant(end, name="end"),
                reason or "declared in settings",
            )
        except ConfigError as exc:
            raise ConfigError(f"setting {SETTING}: {exc}") from None
        out.append(window)
    return out


def sync_declared(session: Session, windows: list[Declared], *, now: datetime) -> None:
    """Make the table's settings windows exactly ``windows`` (the CLI's are left alone)."""
    have = session.scalars(
        select(MaintenanceWindow).where(MaintenanceWindow.source == "settings")
    ).all()
    wanted = {(w.starts_at, w.ends_at, w.reason) for w in windows}
    kept = set()
    for row in have:
        key = (_utc(row.starts_at), _utc(row.ends_at), row.reason)
        if key in wanted and key not in kept:
            kept.add(key)
        else:
            session.delete(row)
    for starts_at, ends_at, reason in sorted(wanted - kept):
        session.add(
            MaintenanceWindow(
                starts_at=starts_at,
                ends_at=ends_at,
                reason=reason,
                source="settings",
                created_at=now,
            )
        )


def add_window(session: Session, window: Declared, *, now: datetime) -> MaintenanceWindow:
    """Record a window declared by an operator; return it (with its id)."""
    row = MaintenanceWindow(
        starts_at=window.starts_at,
        ends_at=window.ends_at,
        reason=window.reason,
        source="cli",
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def list_windows(session: Session) -> list[MaintenanceWindow]:
    """Return every declared window, earliest first."""
    return list(
        session.scalars(
            select(MaintenanceWindow).order_by(MaintenanceWindow.starts_at, MaintenanceWindow.id)
        )
    )


def remove_window(session: Session, window_id: int) -> None:
    """Remove a window declared by the CLI; a settings window is removed from the settings."""
    row = session.get(MaintenanceWindow, window_id)
    if row is None:
        raise ConfigError(
            f"no maintenance window {window_id}; `scim-bridge maintenance list` shows the ids"
        )
    if row.source != "cli":
        raise ConfigError(
            f"maintenance window {window_id} is declared in setting {SETTING}; remove it there"
        )
    session.execute(delete(MaintenanceWindow).where(MaintenanceWindow.id == window_id))


def overlapping(session: Session, start: datetime, end: datetime) -> list[MaintenanceWindow]:
    """Return the windows that overlap [start, end)."""
    return list(
        session.scalars(
            select(MaintenanceWindow).where(
                MaintenanceWindow.starts_at < end, MaintenanceWindow.ends_at > start
            )
        )
    )


def maintenance_minutes(session: Session, start: datetime, end: datetime) -> set[datetime]:
    """Return the UTC minute starts in [start, end) that any window touches."""
    out: set[datetime] = set()
    for window in overlapping(session, start, end):
        first = max(_utc(window.starts_at), start).replace(second=0, microsecond=0)
        last = min(_utc(window.ends_at), end)
        minute = first
        while minute < last:
            out.add(minute)
            minute += MINUTE
    return out
