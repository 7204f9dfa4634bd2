"""Incidents: runs of down minutes, opened and closed from the minute buckets (issue 12).

An incident opens at the first down minute (outside maintenance) and closes at the next
measured minute that is up: its ``ended_at`` is that minute's start, its ``down_minutes`` the
down minutes in between (unmeasured minutes neither extend nor close it: no evidence either
way). Its ``apis`` and ``errcodes`` are what failed DingTalk-side during it.

Evaluation is a singleton (a PostgreSQL advisory lock; SQLite has one writer at a time) that
walks complete minutes from a cursor, so running it in several processes, or twice, changes
nothing twice. A minute is complete ``SETTLE`` after it ends: every process flushes its counts
every few seconds (``sla_flush_seconds``), so a late flush still lands before the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from scim_bridge.directory.bridge_state import store
from scim_bridge.directory.models import (
    AvailabilityFailure,
    AvailabilityMinute,
    BridgeState,
    Incident,
)
from scim_bridge.monitor.availability import aware, floor_minute, measured_minutes, open_incident
from scim_bridge.monitor.maintenance import maintenance_minutes

#: bridge_state key of the last minute evaluated (exclusive).
CURSOR_KEY = "sla.evaluated_through"
#: How long after a minute ends its counts are taken as complete.
SETTLE = timedelta(seconds=30)
#: The furthest back a first evaluation (or one after a long stop) looks.
LOOKBACK = timedelta(days=1)
#: The code recorded for a call whose errcode the observer does not carry (sla_recorder.py).
OUTCOME_ONLY = "transient"
#: pg_advisory_xact_lock key of the evaluation: "scimsla1" as a 64-bit integer.
_LOCK_KEY = int.from_bytes(b"scimsla1", "big") & 0x7FFF_FFFF_FFFF_FFFF


@dataclass
class Transitions:
    """What one evaluation changed."""

    opened: list[Incident] = field(default_factory=list)
    closed: list[Incident] = field(default_factory=list)


def lock(session: Session) -> None:
    """Take the SLA bookkeeping's turn for this transaction (released at commit)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    # SQLite: Database.write() began with BEGIN IMMEDIATE: this is the only writer.


def _cursor(session: Session, *, limit: datetime) -> datetime:
    state = session.get(BridgeState, CURSOR_KEY)
    floor = limit - LOOKBACK
    if state is None:
        return floor
    return max(floor, datetime.fromisoformat(str(state.value["through"])))


def _save_cursor(session: Session, through: datetime, *, now: datetime) -> None:
    store(session, CURSOR_KEY, {"through": through.isoformat()}, now=now)


def evaluate(session: Session, *, now: datetime) -> Transitions:
    """Open and close incidents from the minutes completed since the last evaluation."""
    lock(session)
    limit = floor_minute(now - SETTLE)
    start = _cursor(session, limit=limit)
    out = Transitions()
    if start >= limit:
        return out
    excluded = maintenance_minutes(session, start, limit)
    current = open_incident(session)
    touched: list[Incident] = [current] if current is not None else []
    for minute, down in sorted(measured_minutes(session, start, limit).items()):
        if minute in excluded:
            continue
        if down:
            if current is None:
                current = Incident(
                    started_at=minute, down_minutes=0, apis={"seen": []}, errcodes={"seen": []}
                )
                session.add(current)
                out.opened.append(current)
                touched.append(current)
            current.down_minutes += 1
        elif current is not None:
            current.ended_at = minute
            out.closed.append(current)
            current = None
    for incident in touched:
        _note_failures(session, incident, limit=limit)
    _save_cursor(session, limit, now=now)
    session.flush()
    return out


def _note_failures(session: Session, incident: Incident, *, limit: datetime) -> None:
    """Set the APIs and codes that failed DingTalk-side during the incident's down minutes."""
    end = aware(incident.ended_at) if incident.ended_at is not None else limit
    f, m = AvailabilityFailure, AvailabilityMinute
    rows = session.execute(
        select(f.api, f.code)
        .join(m, m.minute == f.minute)
        .where(f.minute >= incident.started_at, f.minute < end, m.down.is_(True))
        .distinct()
    ).all()
    incident.apis = {"seen": sorted({api for api, _ in rows})}
    # The probe records DingTalk's own code; the translator's calls only their class
    # ("transient", all the client's observer says), listed only when no code was seen.
    codes = {code for _, code in rows}
    incident.errcodes = {"seen": sorted(codes - {OUTCOME_ONLY} or codes)}


def incidents_between(session: Session, start: datetime, end: datetime) -> list[Incident]:
    """Return the incidents that overlap [start, end), earliest first (an open one included)."""
    return list(
        session.scalars(
            select(Incident)
            .where(
                Incident.started_at < end,
                (Incident.ended_at.is_(None)) | (Incident.ended_at > start),
            )
            .order_by(Incident.started_at)
        )
    )
