"""Helpers of the alert tests: put facts in the store, read what the receiver and table got."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from alert_receiver import ROBOT_SECRET, Receiver
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from scim_bridge.directory.db import Database
from scim_bridge.directory.models import Alert, AlertDelivery, DeadLetter, OutboxEntry
from scim_bridge.monitor import readiness
from scim_bridge.settings import Settings
from scim_bridge.sync.alerting import Availability


def wait_change(
    database: Database, *, since: datetime, attempts: int = 0, resource_id: str = "u-1"
) -> None:
    """Put a change in the outbox, unapplied since ``since``."""
    with database.write() as session:
        session.execute(delete(OutboxEntry).where(OutboxEntry.resource_id == resource_id))
        session.add(
            OutboxEntry(
                resource_type="User",
                resource_id=resource_id,
                seq=1,
                changed_at=since,
                first_changed_at=since,
                available_at=since,
                attempts=attempts,
            )
        )


def clear_outbox(database: Database) -> None:
    """Apply every waiting change (as far as the rules can tell)."""
    with database.write() as session:
        session.execute(delete(OutboxEntry))


def add_dead_letter(
    database: Database, *, at: datetime, code: str = "40035", resource_id: str = "u-9"
) -> None:
    """Put a change on the dead-letter list with DingTalk's ``code`` as the reason."""
    with database.write() as session:
        session.add(
            DeadLetter(
                resource_type="User",
                resource_id=resource_id,
                reason="words",
                code=code,
                attempts=1,
                created_at=at,
            )
        )


def clear_dead_letters(database: Database) -> None:
    """Empty the dead-letter list."""
    with database.write() as session:
        session.execute(delete(DeadLetter))


def token_state(database: Database, *, ok: bool, at: datetime) -> None:
    """Record the worker's last token refresh."""
    reason = "token fetched" if ok else "DingTalk refused the app key or secret (40089)"
    with database.write() as session:
        readiness.record_token(session, ok=ok, reason=reason, now=at)


@dataclass
class Figures:
    """Availability figures the test sets (the engine's availability source)."""

    window: float | None = None
    month: float | None = None

    def __call__(self, session: Session, *, now: datetime) -> Availability:
        return Availability(self.window, self.month, now.strftime("%Y-%m"))


@dataclass
class Accuracy:
    """Reconcile's accuracy the test sets (the engine's accuracy source)."""

    percent: float | None = None

    def __call__(self, session: Session) -> float | None:
        return self.percent


def events(bodies: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """Return (status, rule, severity) of each ITSM body."""
    return [(b["status"], b["rule"], b["severity"]) for b in bodies]


def alert_rows(database: Database) -> list[Alert]:
    """Return every alert row, oldest first."""
    with database.read() as session:
        return list(session.scalars(select(Alert).order_by(Alert.id)).all())


def delivery_rows(database: Database) -> list[AlertDelivery]:
    """Return every delivery row, oldest first."""
    with database.read() as session:
        return list(session.scalars(select(AlertDelivery).order_by(AlertDelivery.id)).all())


MINUTE = timedelta(minutes=1)


def alert_settings(database: Database, receiver: Receiver, **more: Any) -> Settings:
    """Settings with every channel pointed at the receiver."""
    return Settings(
        database_url=database.url,
        alert_dingtalk_webhook=receiver.robot_url,
        alert_dingtalk_secret=ROBOT_SECRET,
        alert_webhook_url=f"{receiver.url}/itsm",
        alert_escalation_webhook_url=f"{receiver.url}/escalation",
        **more,
    )
