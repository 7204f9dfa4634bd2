"""The console's overview (issue 13): the directory's health, read from the store at once.

Everything here is a read of our own database: the overview never asks DingTalk (a web
request never calls it, design.md). Each figure is one small function, and so is each part
that other read models will fill (availability, alerts, reconcile): adding one is a call in
``read_overview`` and a key in its result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scim_bridge.directory.console_actions import pending_count
from scim_bridge.directory.models import BridgeState, DeadLetter, Link, OutboxEntry, Token, User
from scim_bridge.monitor.gauges import GUARD_PAUSED_KEY

#: What the console shows for a read model that has not landed yet.
NOT_MEASURED = "not measured yet"


def _aware(when: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything is stored in UTC.
    if when is None or when.tzinfo is not None:
        return when
    return when.replace(tzinfo=UTC)


@dataclass(frozen=True)
class IdpCall:
    """One IdP token and when it last called."""

    token: str
    idp: str
    last_used_at: str | None
    revoked: bool


@dataclass(frozen=True)
class Placeholder:
    """A part of the overview whose read model is not there yet."""

    title: str
    text: str = NOT_MEASURED


@dataclass(frozen=True)
class Overview:
    """What the overview page and /admin/overview.json show."""

    at: str
    sync_lag_seconds: float
    outbox_depth: int
    dead_letters: int
    guard_paused: bool
    people: int
    people_synced: int
    departments: int
    pending_actions: int
    idps: list[IdpCall]
    #: Sync lag per hour over the last 24 h, oldest first; empty when nothing records it yet.
    lag_24h: list[float] = field(default_factory=list)
    placeholders: list[Placeholder] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """Return the overview as JSON-ready data."""
        return asdict(self)


def sync_lag_seconds(session: Session, *, now: datetime) -> float:
    """Return the age of the oldest change DingTalk has not acknowledged (0 when none waits)."""
    oldest = _aware(session.scalar(select(func.min(OutboxEntry.first_changed_at))))
    return 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())


def count(session: Session, model: Any, *where: Any) -> int:
    """Return how many rows of a table match."""
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def idp_calls(session: Session) -> list[IdpCall]:
    """Return each IdP token and when it last called, most recent first."""
    rows = session.scalars(
        select(Token).order_by(Token.last_used_at.desc().nulls_last(), Token.name)
    )
    return [
        IdpCall(
            token=r.name,
            idp=r.idp,
            last_used_at=_iso(r.last_used_at),
            revoked=r.revoked_at is not None,
        )
        for r in rows
    ]


def _iso(when: datetime | None) -> str | None:
    aware = _aware(when)
    return None if aware is None else aware.isoformat(timespec="seconds")


#: Read models other branches add (monitor/availability.py, alerts, reconcile_runs): each is a
#: function of (session, now) returning a Placeholder-shaped part, or None to show the default.
PartReader = Callable[[Session, datetime], Placeholder | None]
PENDING_PARTS = ("DingTalk availability", "Open alerts and incidents", "Last reconcile")


def read_overview(
    session: Session,
    *,
    now: datetime,
    parts: dict[str, PartReader] | None = None,
    history: Callable[..., list[float]] | None = None,
) -> Overview:
    """Read everything the overview shows, in one session (``history``: the lag per hour)."""
    parts = parts or {}
    placeholders = []
    for title in PENDING_PARTS:
        reader = parts.get(title)
        found = reader(session, now) if reader is not None else None
        placeholders.append(found or Placeholder(title))
    return Overview(
        at=now.isoformat(timespec="seconds"),
        sync_lag_seconds=round(sync_lag_seconds(session, now=now), 1),
        outbox_depth=count(session, OutboxEntry),
        dead_letters=count(session, DeadLetter),
        guard_paused=session.get(BridgeState, GUARD_PAUSED_KEY) is not None,
        people=count(session, User),
        people_synced=count(session, Link, Link.kind == "user", Link.state == "synced"),
        departments=count(session, Link, Link.kind == "department", Link.state != "removed"),
        pending_actions=pending_count(session),
        idps=idp_calls(session),
        lag_24h=history(session, now=now) if history is not None else [],
        placeholders=placeholders,
    )


def sparkline_points(values: list[float], *, width: int = 240, height: int = 40) -> str:
    """Return the ``points`` of an SVG polyline drawing the values (highest at the top)."""
    if not values:
        return ""
    top = max(values) or 1.0
    step = width / max(1, len(values) - 1)
    return " ".join(
        f"{i * step:.1f},{height - (v / top) * height:.1f}" for i, v in enumerate(values)
    )
