"""The alerts and their deliveries in the database: the state alert_rules.py decides over.

Every worker process reads the open alerts from here and writes the outcome back in the same
transaction (sync/alerting.py holds the alert lock), so the hold-down and "announced once"
survive restarts and hold across processes. Each announcement becomes one delivery row per
channel; a failed delivery is retried with exponential backoff and abandoned after a bounded
number of attempts, and every attempt's outcome stays visible (`scim-bridge alerts list`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from scim_bridge.directory.models import Alert, AlertDelivery
from scim_bridge.monitor.alert_rules import FIRING, RESOLVED, AlertState, Event, Outcome

#: Delivery outcomes: not tried yet, failed and due again, delivered, given up on.
PENDING, RETRYING, SENT, ABANDONED = "pending", "retrying", "sent", "abandoned"
#: Attempts before a delivery is abandoned (30 s doubling, capped: about an hour in all).
MAX_ATTEMPTS = 8
BACKOFF_BASE = 30.0
BACKOFF_CAP = 1800.0
#: How long a claimed delivery is hidden from other processes while it is being sent.
CLAIM_LEASE = timedelta(seconds=60)
#: Resolved alerts (and their deliveries) are kept this long, for `alerts list` and reviews.
RETENTION = timedelta(days=180)

#: Given an alert event, the channels that should carry it.
Routes = Callable[[Event], Sequence[str]]


def aware(when: datetime | None) -> datetime | None:
    """Return ``when`` timezone-aware (SQLite hands back naive UTC)."""
    if when is None:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def stamp(when: datetime) -> str:
    """Return a time as notices carry it: ISO 8601 in UTC."""
    moment = aware(when)
    assert moment is not None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- alerts -----------------------------------------------------------------------------------


def _state(row: Alert) -> AlertState:
    started = aware(row.started_at)
    assert started is not None
    return AlertState(
        key=row.key,
        rule=row.rule,
        severity=row.severity,
        summary=row.summary,
        started_at=started,
        announced=row.announced,
        parent=row.parent_key,
        clear_since=aware(row.clear_since),
        calm_since=aware(row.calm_since),
        labels={str(k): str(v) for k, v in (row.labels or {}).items()},
    )


def _open_rows(session: Session) -> dict[str, Alert]:
    rows = session.scalars(select(Alert).where(Alert.status == FIRING)).all()
    return {row.key: row for row in rows}


def open_states(session: Session) -> dict[str, AlertState]:
    """Return the open alerts by key."""
    return {key: _state(row) for key, row in _open_rows(session).items()}


def record(session: Session, outcome: Outcome, *, now: datetime, routes: Routes) -> int:
    """Write an evaluation's outcome and queue its announcements; return how many were queued."""
    rows = _open_rows(session)
    for key, state in outcome.open.items():
        row = rows.get(key)
        if row is None:
            row = Alert(key=key, rule=state.rule, status=FIRING, started_at=state.started_at)
            session.add(row)
            rows[key] = row
        row.severity, row.summary, row.labels = state.severity, state.summary, dict(state.labels)
        row.announced, row.parent_key = state.announced, state.parent
        row.clear_since, row.calm_since = state.clear_since, state.calm_since
    for state in outcome.resolved:
        row = rows[state.key]
        row.status, row.resolved_at = RESOLVED, now
        row.clear_since = row.calm_since = None
    session.flush()  # new alerts get their ids
    queued = 0
    for event in outcome.events:
        row = rows[event.alert.key]
        payload = notice_body(event, now=now)
        for channel in routes(event):
            session.add(
                AlertDelivery(
                    alert_id=row.id,
                    channel=channel,
                    event=event.status,
                    payload=payload,
                    attempt=0,
                    outcome=PENDING,
                    created_at=now,
                    next_attempt_at=now,
                )
            )
            queued += 1
        row.last_notified_at = now
    return queued


def notice_body(event: Event, *, now: datetime) -> dict[str, object]:
    """Return the body of an event's notice (notify.message.Notice.as_json's fields)."""
    alert = event.alert
    labels = dict(alert.labels)
    if alert.parent is not None:
        labels["grouped_under"] = alert.parent
    if event.previous_severity is not None:
        labels["previous_severity"] = event.previous_severity
    body: dict[str, object] = {
        "status": event.status,
        "severity": alert.severity,
        "rule": alert.rule,
        "key": alert.key,
        "summary": alert.summary,
        "started_at": stamp(alert.started_at),
    }
    if event.status == RESOLVED:
        body["ended_at"] = stamp(now)
    if labels:
        body["labels"] = labels
    return body


# --- deliveries -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    """A delivery claimed for sending: its id, its channel and the notice body."""

    id: int
    channel: str
    payload: dict[str, object]


def claim_due(session: Session, *, channels: Sequence[str], now: datetime) -> list[Due]:
    """Claim the due deliveries of ``channels``, oldest first, hiding them for a lease."""
    rows = session.scalars(
        select(AlertDelivery)
        .where(
            AlertDelivery.channel.in_(list(channels)),
            AlertDelivery.outcome.in_((PENDING, RETRYING)),
            AlertDelivery.next_attempt_at <= now,
        )
        .order_by(AlertDelivery.id)
        .with_for_update(skip_locked=True)
    ).all()
    for row in rows:
        row.next_attempt_at = now + CLAIM_LEASE
    return [Due(row.id, row.channel, dict(row.payload)) for row in rows]


def backoff(attempt: int) -> float:
    """Return seconds before attempt ``attempt + 1`` (30 s doubling, capped at 30 minutes)."""
    return min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempt - 1))


def settle(
    session: Session,
    ids: Sequence[int],
    *,
    ok: bool,
    error: str | None,
    retry_after: float | None,
    now: datetime,
) -> None:
    """Record one attempt's outcome for the deliveries ``ids`` (sent together)."""
    if not ids:
        return
    if ok:
        session.execute(
            update(AlertDelivery)
            .where(AlertDelivery.id.in_(ids))
            .values(attempt=AlertDelivery.attempt + 1, outcome=SENT, error=None, delivered_at=now)
        )
        return
    for row in session.scalars(select(AlertDelivery).where(AlertDelivery.id.in_(ids))).all():
        row.attempt += 1
        row.error = error
        if row.attempt >= MAX_ATTEMPTS:
            row.outcome = ABANDONED
            continue
        row.outcome = RETRYING
        wait = max(backoff(row.attempt), retry_after or 0.0)
        row.next_attempt_at = now + timedelta(seconds=wait)


def failing_channels(session: Session) -> dict[str, str]:
    """Return the channels whose latest attempt failed (none delivered since), with the error."""
    last_sent = dict(
        session.execute(
            select(AlertDelivery.channel, func.max(AlertDelivery.id))
            .where(AlertDelivery.outcome == SENT)
            .group_by(AlertDelivery.channel)
        ).all()
    )
    failing: dict[str, str] = {}
    rows = session.execute(
        select(AlertDelivery.channel, AlertDelivery.id, AlertDelivery.error)
        .where(AlertDelivery.outcome.in_((RETRYING, ABANDONED)))
        .order_by(AlertDelivery.id)
    ).all()
    for channel, delivery_id, error in rows:
        if delivery_id > last_sent.get(channel, 0):
            failing[channel] = error or "failed"
    return failing


def recent(session: Session, *, limit: int = 50) -> list[tuple[Alert, list[AlertDelivery]]]:
    """Return the open alerts, then the latest resolved ones, each with its deliveries."""
    alerts = session.scalars(
        select(Alert).order_by((Alert.status == FIRING).desc(), Alert.id.desc()).limit(limit)
    ).all()
    ids = [a.id for a in alerts]
    deliveries: dict[int, list[AlertDelivery]] = {i: [] for i in ids}
    if ids:
        for d in session.scalars(
            select(AlertDelivery).where(AlertDelivery.alert_id.in_(ids)).order_by(AlertDelivery.id)
        ).all():
            deliveries[d.alert_id].append(d)
    return [(a, deliveries[a.id]) for a in alerts]


def prune(session: Session, *, now: datetime, keep: timedelta = RETENTION) -> int:
    """Forget alerts resolved more than ``keep`` ago, with their deliveries; return how many."""
    old = select(Alert.id).where(Alert.status == RESOLVED, Alert.resolved_at < now - keep)
    session.execute(delete(AlertDelivery).where(AlertDelivery.alert_id.in_(old)))
    result = session.execute(
        delete(Alert).where(Alert.status == RESOLVED, Alert.resolved_at < now - keep)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
