"""The sync lag over the last 24 hours, for the console's sparkline (issue 13).

The worker samples the lag now (the age of the oldest change DingTalk has not acknowledged)
every minute and keeps the worst sample of each hour, 24 hours of them, in one bridge_state
row: small, shared by every process, and enough for a sparkline. Prometheus keeps the full
histogram (scim_bridge_sync_lag_seconds) for anything finer.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from scim_bridge.directory.bridge_state import store
from scim_bridge.directory.models import BridgeState
from scim_bridge.monitor.overview import sync_lag_seconds

STATE_KEY = "overview.lag_hours"
HOURS = 24
#: The least time between two samples of the deployment: the job runs every 60 s on each
#: worker, and a scheduler may fire a little early.
SPACING = timedelta(seconds=54)
#: pg_advisory_xact_lock key of the sample's turn: "scimlags" as a 64-bit integer.
_LOCK_KEY = int.from_bytes(b"scimlags", "big") & 0x7FFF_FFFF_FFFF_FFFF


def _aware(when: datetime) -> datetime:
    # SQLite gives back naive datetimes; every time stored here is UTC.
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _hour(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H")


def record_lag_sample(session: Session, *, now: datetime) -> float | None:
    """Fold the lag now into its hour's worst sample; forget hours older than a day.

    Return the lag sampled, or None when another worker sampled less than SPACING ago."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    # SQLite: Database.write() began with BEGIN IMMEDIATE: this is the only writer.
    row = session.get(BridgeState, STATE_KEY)
    if row is not None and abs(now - _aware(row.updated_at)) < SPACING:
        return None
    lag = round(sync_lag_seconds(session, now=now), 1)
    hours: dict[str, float] = dict(row.value.get("hours", {})) if row is not None else {}
    key = _hour(now)
    hours[key] = max(lag, float(hours.get(key, 0.0)))
    oldest = _hour(now - timedelta(hours=HOURS - 1))
    hours = {k: v for k, v in hours.items() if k >= oldest}
    store(session, STATE_KEY, {"hours": hours}, now=now)  # a new dict: SQLAlchemy sees it
    return lag


def lag_24h(session: Session, *, now: datetime) -> list[float]:
    """Return the worst lag of each of the last 24 hours, oldest first (0 for an hour without
    a sample); empty when nothing was sampled yet."""
    row = session.get(BridgeState, STATE_KEY)
    hours = row.value.get("hours", {}) if row is not None else {}
    if not hours:
        return []
    return [
        float(hours.get(_hour(now - timedelta(hours=back)), 0.0))
        for back in range(HOURS - 1, -1, -1)
    ]
