"""The overview's parts that other read models own: DingTalk availability, open alerts and
incidents, the last reconcile (issue 13). Each reads the store only; none calls DingTalk."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from scim_bridge.monitor.alert_store import open_states
from scim_bridge.monitor.availability import month_to_date, open_incident
from scim_bridge.monitor.overview import PartReader, Placeholder
from scim_bridge.monitor.reconcile_state import latest
from scim_bridge.settings import Settings

AVAILABILITY, ALERTS, RECONCILE = (
    "DingTalk availability",
    "Open alerts and incidents",
    "Last reconcile",
)


def overview_parts(settings: Settings) -> dict[str, PartReader]:
    """Return the part readers for the overview, with the settings they need."""

    def availability(session: Session, now: datetime) -> Placeholder | None:
        figure = month_to_date(session, now=now, tz=settings.sla_report_tz)
        if figure.percent is None or figure.measured_minutes == 0:
            return None  # unmeasured minutes count as up: 100% of nothing says nothing
        coverage = figure.coverage_percent or 0.0
        return Placeholder(
            AVAILABILITY,
            f"{figure.percent:.3f}% this month (target {settings.sla_target:g}%), "
            f"{figure.down_minutes} min down, measured {coverage:.0f}% of the minutes",
        )

    def alerts(session: Session, now: datetime) -> Placeholder | None:
        firing = sorted(open_states(session).values(), key=lambda a: a.started_at)
        incident = open_incident(session)
        words = [f"{a.severity}: {a.summary}" for a in firing if a.parent is None]
        if incident is not None:
            words.append(f"DingTalk incident open since {incident.started_at:%Y-%m-%d %H:%M} UTC")
        return Placeholder(ALERTS, "; ".join(words) or "none open")

    def reconcile(session: Session, now: datetime) -> Placeholder | None:
        run = latest(session)
        if run is None:
            return None
        when = f"{run.started_at:%Y-%m-%d %H:%M} UTC"
        if run.accuracy_percent is None:
            return Placeholder(RECONCILE, f"{run.mode} run {run.status} at {when}")
        drift = sum(run.drift.values())
        return Placeholder(
            RECONCILE,
            f"{run.accuracy_percent:.1f}% accurate, {drift} difference(s), {run.mode} at {when}",
        )

    return {AVAILABILITY: availability, ALERTS: alerts, RECONCILE: reconcile}
