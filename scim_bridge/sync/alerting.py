"""The alert evaluation job (issue 12): gather facts, evaluate the rules, deliver the notices.

Every ``alert_eval_seconds`` the worker's scheduler calls ``AlertEngine.job``. One evaluation
runs at a time across processes (a PostgreSQL advisory lock; SQLite's single writer): it reads
the facts and the open alerts, lets monitor/alert_rules.py decide, and writes the outcome and
one delivery row per channel in the same transaction. Delivery follows, outside any lock: each
channel's due rows go out together (the robot's digest), and their outcome is recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from scim_bridge.dingtalk.errcodes import Retry, rule_for
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import BridgeState, DeadLetter, OutboxEntry
from scim_bridge.errors import LinkConflict
from scim_bridge.monitor import alert_store, readiness
from scim_bridge.monitor.alert_rules import (
    CHANNEL,
    ESCALATION,
    Event,
    Facts,
    Outcome,
    Policy,
    conditions,
    evaluate,
)
from scim_bridge.monitor.availability import month_to_date, rolling_window, zone
from scim_bridge.monitor.sla_report import SlaFigures
from scim_bridge.notify.message import Channel, Notice, Report
from scim_bridge.sync.failures import HELD_BY_ANOTHER

log = logging.getLogger("scim_bridge.alerts")

#: The channel that only the month-to-date escalation goes to.
ESCALATION_CHANNEL = "escalation_webhook"
#: Where the events of an alert folded under an outage go: the chat and the log, no pager.
GROUPED_CHANNELS = frozenset({"dingtalk_robot", "log"})
#: pg_advisory_xact_lock key of the evaluation: "scimalrt" as a 64-bit integer.
_LOCK_KEY = int.from_bytes(b"scimalrt", "big") & 0x7FFF_FFFF_FFFF_FFFF


@dataclass(frozen=True)
class Availability:
    """DingTalk's availability now: the rolling window and the month to date (percent)."""

    window_percent: float | None
    month_percent: float | None
    month: str


class AvailabilitySource(Protocol):
    """Reads availability from the store (the sla feature's monitor/availability.py)."""

    def __call__(self, session: Session, *, now: datetime) -> Availability:
        """Return the availability figures at ``now``."""
        ...


@dataclass(frozen=True)
class MeasuredAvailability:
    """Availability from the SLA bookkeeping (monitor/availability.py): the rolling window over
    measured minutes only, and the month to date in the contract's time zone."""

    window_minutes: int
    tz: str = "UTC"

    def __call__(self, session: Session, *, now: datetime) -> Availability:
        """Return the figures at ``now``."""
        window = rolling_window(session, now=now, minutes=self.window_minutes)
        month = month_to_date(session, now=now, tz=self.tz)
        local = now.astimezone(zone(self.tz))
        return Availability(window.percent, month.percent, local.strftime("%Y-%m"))


def _aware(when: datetime) -> datetime:
    aware = alert_store.aware(when)
    assert aware is not None
    return aware


def _transient(code: str | None) -> bool:
    # DingTalk's side (system busy, 5xx, timeouts): the dead letter is the outage's doing.
    if not code:
        return False
    return rule_for(code).retry is Retry.TRANSIENT or (code.isdigit() and 500 <= int(code) < 600)


#: Reads reconcile's latest accuracy (percent) from the store; None until reconcile reports one.
AccuracySource = Callable[[Session], "float | None"]


def gather_facts(
    session: Session,
    *,
    now: datetime,
    window_minutes: int,
    availability: AvailabilitySource | None,
    accuracy: AccuracySource | None = None,
) -> Facts:
    """Read what the rules judge: the outbox, dead letters, the token, availability, channels."""
    waiting = int(session.scalar(select(func.count()).select_from(OutboxEntry)) or 0)
    oldest = session.execute(
        select(OutboxEntry.first_changed_at, OutboxEntry.attempts)
        .order_by(OutboxEntry.first_changed_at)
        .limit(1)
    ).first()
    codes = session.scalars(select(DeadLetter.code)).all()
    newest = session.scalars(
        select(DeadLetter).order_by(DeadLetter.created_at.desc(), DeadLetter.id.desc()).limit(1)
    ).first()
    token = session.get(BridgeState, readiness.TOKEN_KEY)
    figures = availability(session, now=now) if availability is not None else None
    return Facts(
        window_percent=figures.window_percent if figures else None,
        window_minutes=window_minutes,
        month_percent=figures.month_percent if figures else None,
        month=figures.month if figures else now.strftime("%Y-%m"),
        oldest_change_seconds=(
            None if oldest is None else max(0.0, (now - _aware(oldest[0])).total_seconds())
        ),
        waiting_changes=waiting,
        lag_retrying=oldest is not None and int(oldest[1] or 0) > 0,
        dead_letters=len(codes),
        dead_letters_transient=sum(1 for code in codes if _transient(code)),
        newest_dead_letter=_in_words(newest) if newest is not None else {},
        token_ok=None if token is None else bool(token.value.get("ok")),
        token_reason=str(token.value.get("reason") or "") if token is not None else "",
        reconcile_accuracy=accuracy(session) if accuracy is not None else None,
        failing_channels=alert_store.failing_channels(session),
    )


def _in_words(letter: DeadLetter) -> dict[str, str]:
    """Return a dead letter as the dead_letters alert's labels (what the old per-letter hook
    sent): the reason in plain words with its fix, and DingTalk's own text when it said one."""
    # A link conflict's reason names the other SCIM user for `dlq show`; a notice goes to a
    # chat and is stored with the alert, so it says only what the user's own IdP may read.
    held = letter.code == LinkConflict.__name__
    words = {
        "resource_type": letter.resource_type,
        "resource_id": letter.resource_id,
        "code": letter.code or "",
        "reason": HELD_BY_ANOTHER if held else letter.reason,
    }
    if letter.detail:
        words["detail"] = letter.detail
    return words


def _lock(session: Session) -> None:
    """Take the evaluation's turn for this transaction (released at commit or rollback)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    # SQLite: Database.write() began with BEGIN IMMEDIATE: this is the only writer.


@dataclass
class AlertEngine:
    """Evaluate the alert rules and deliver what they announce, over the configured channels."""

    db: Database
    channels: Sequence[Channel]
    policy: Policy
    clock: Callable[[], datetime]
    availability: AvailabilitySource | None = None
    accuracy: AccuracySource | None = None
    window_minutes: int = 60
    interval: float = 60.0
    _names: list[str] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self._names = [c.name for c in self.channels]

    def routes(self, event: Event) -> list[str]:
        """Return the channels an event goes to.

        The escalation webhook takes only the month-to-date escalation; an alert folded under
        an outage goes as a line of its digest to the robot and the log only; an alert about
        a failing channel goes to every channel but that one."""
        alert = event.alert
        names = [n for n in self._names if n != ESCALATION_CHANNEL or alert.severity == ESCALATION]
        if alert.parent is not None:
            names = [n for n in names if n in GROUPED_CHANNELS]
        if alert.rule == CHANNEL:
            names = [n for n in names if n != alert.labels.get("channel")]
        return names

    def evaluate(self) -> Outcome:
        """Run the rules once at the engine's clock; record and queue what they decide."""
        now = self.clock()
        with self.db.write() as session:
            _lock(session)
            facts = gather_facts(
                session,
                now=now,
                window_minutes=self.window_minutes,
                availability=self.availability,
                accuracy=self.accuracy,
            )
            outcome = evaluate(
                alert_store.open_states(session),
                conditions(facts, self.policy),
                now=now,
                hold_down=self.policy.hold_down,
            )
            alert_store.record(session, outcome, now=now, routes=self.routes)
            alert_store.prune(session, now=now)  # a small table: the history of half a year
        for event in outcome.events:
            log.info("alert %s %s (%s)", event.alert.key, event.status, event.alert.severity)
        return outcome

    def deliver(self) -> int:
        """Send every due delivery, each channel's together; return how many were sent."""
        with self.db.write() as session:
            due = alert_store.claim_due(session, channels=self._names, now=self.clock())
        if not due:
            return 0
        results = []
        for channel in self.channels:
            mine = [d for d in due if d.channel == channel.name]
            if not mine:
                continue
            delivery = channel.send([Notice.from_json(d.payload) for d in mine])
            if not delivery.ok:
                log.warning("alert channel %s failed: %s", channel.name, delivery.error)
            results.append(([d.id for d in mine], delivery))
        with self.db.write() as session:
            for ids, delivery in results:
                alert_store.settle(
                    session,
                    ids,
                    ok=delivery.ok,
                    error=delivery.error,
                    retry_after=delivery.retry_after,
                    now=self.clock(),
                )
        return sum(len(ids) for ids, delivery in results if delivery.ok)

    def run_once(self) -> Outcome:
        """Evaluate, then deliver (the job; tests call it with an injected clock)."""
        outcome = self.evaluate()
        self.deliver()
        return outcome

    def job(self) -> None:
        """The scheduler's entry: a failed run is logged, and the next one tries again."""
        try:
            self.run_once()
        except Exception:
            log.exception("alert evaluation failed; the next run tries again")


def hold_down_for(interval: float) -> timedelta:
    """Return the hold-down before an alert resolves: five evaluations, at least five minutes."""
    return max(timedelta(minutes=5), timedelta(seconds=5 * interval))


# --- the monthly SLA report to the channels (issue 12) ------------------------------------------

#: A report goes to people and to the credit claimers, not to the ITSM tool (it is no incident).
REPORT_CHANNELS = frozenset({"log", "dingtalk_robot", ESCALATION_CHANNEL, "command"})


def sla_report_message(path: Path, figures: SlaFigures) -> Report:
    """Return the monthly SLA report as a channel message: a markdown summary and the JSON."""
    availability = figures.availability_percent
    shown = "not measured" if availability is None else f"{availability:.3f}%"
    verdict = {True: "met", False: "MISSED", None: "not measured"}[figures.met_target]
    title = f"scim-bridge SLA report {figures.month} ({figures.tz}): {shown}"
    lines = [
        f"### {title}",
        "",
        f"- availability **{shown}** against {figures.target_percent:g}%: {verdict}",
        f"- {figures.downtime_minutes} minute(s) down in {len(figures.incidents)} incident(s)",
        f"- coverage {_percent(figures.coverage_percent)}, service credit "
        f"{figures.credit_percent:g}% ({figures.credit_table})",
        f"- the full report: `{path.name}` on the worker, or `scim-bridge report sla "
        f"--month {figures.month} --tz {figures.tz}`",
    ]
    body = {"type": "sla_report", "file": path.name, **figures.as_json()}
    body.pop("daily", None)  # the per-day series belongs in the file, not in a webhook
    return Report(title=title, markdown="\n".join(lines), body=body)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}%"


def report_delivery(channels: Sequence[Channel]) -> Callable[[Path, SlaFigures], None]:
    """Return the SLA jobs' ``deliver_report``: the report to the people channels, logged."""

    def deliver(path: Path, figures: SlaFigures) -> None:
        report = sla_report_message(path, figures)
        for channel in channels:
            if channel.name not in REPORT_CHANNELS:
                continue
            delivery = channel.send_report(report)
            if not delivery.ok:  # the file stays on disk: `report sla` renders it again
                log.warning("SLA report to %s failed: %s", channel.name, delivery.error)

    return deliver
