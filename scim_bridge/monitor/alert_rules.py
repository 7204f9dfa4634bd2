"""Alert rules (issue 12): facts in, the alerts that should be open and what to announce out.

Pure: no session, no clock, no channel. ``conditions`` turns the facts the evaluation job
gathered (sync/alerting.py) into the conditions that hold now; ``evaluate`` compares them with
the alerts already open and decides, per stable key, what fires, what changes severity and
what resolves. The rules of an episode:

- one alert per key: warning and critical of one rule are one alert whose severity changes;
- it is announced once when it fires, again only when its severity rises (or, after the
  hold-down, falls), and once when it resolves;
- it resolves only after its condition has stayed clear for the hold-down, so a condition that
  flaps during it neither resolves nor fires again (no flapping storm);
- grouping: while ``dingtalk_availability`` is open, the lag and dead letters that DingTalk's
  transient errors cause are folded under it: their events carry the parent (``alert.parent``)
  so they reach the people watching the outage as lines of its digest but page nobody (the
  evaluation job routes them); if they outlive it they are announced on their own then.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

#: The rules (issue 12 names them; the month-to-date one goes to the escalation contacts).
AVAILABILITY = "dingtalk_availability"
SLA_BREACH = "dingtalk_sla_breach"
SYNC_LAG = "sync_lag"
DEAD_LETTERS = "dead_letters"
CREDENTIALS = "dingtalk_credentials"
RECONCILE = "reconcile_accuracy"
CHANNEL = "alert_channel"
RULES = (AVAILABILITY, SLA_BREACH, SYNC_LAG, DEAD_LETTERS, CREDENTIALS, RECONCILE, CHANNEL)

WARNING, CRITICAL, ESCALATION = "warning", "critical", "escalation"
_RANK = {WARNING: 1, CRITICAL: 2, ESCALATION: 3}
FIRING, RESOLVED = "firing", "resolved"


@dataclass(frozen=True)
class Facts:
    """What the evaluation job measured, as plain data (None: not measured, no opinion)."""

    window_percent: float | None = None  # availability over the rolling window (measured min.)
    window_minutes: int = 60
    month_percent: float | None = None  # month-to-date availability
    month: str = ""  # "YYYY-MM" of month_percent
    oldest_change_seconds: float | None = None  # the oldest unapplied change's age
    waiting_changes: int = 0
    lag_retrying: bool = False  # the oldest waiting change failed and waits for its retry
    dead_letters: int = 0
    dead_letters_transient: int = 0  # of which DingTalk's transient errors are the reason
    #: The newest dead letter in words (resource_type, resource_id, code, reason, detail): the
    #: alert's labels, so whoever is paged reads the cause and the fix without a shell.
    newest_dead_letter: Mapping[str, str] = field(default_factory=dict)
    token_ok: bool | None = None
    token_reason: str = ""
    reconcile_accuracy: float | None = None  # percent; None until reconcile reports one
    failing_channels: Mapping[str, str] = field(default_factory=dict)  # channel -> its error


@dataclass(frozen=True)
class Policy:
    """The thresholds (settings) and the hold-down before an alert resolves."""

    sla_warning: float = 95.0
    sla_critical: float = 90.0
    sla_target: float = 99.9
    lag_seconds: float = 300.0
    accuracy_percent: float = 99.0
    hold_down: timedelta = timedelta(minutes=5)


@dataclass(frozen=True)
class Condition:
    """A rule that holds now, for one key; ``transient``: DingTalk's outage may cause it."""

    rule: str
    key: str
    severity: str
    summary: str
    labels: Mapping[str, str] = field(default_factory=dict)
    transient: bool = False


@dataclass(frozen=True)
class AlertState:
    """An open alert: what it is, since when, whether anyone was told, and its clocks."""

    key: str
    rule: str
    severity: str
    summary: str
    started_at: datetime
    announced: bool = False  # paged on its own (not only as a line under its parent)
    parent: str | None = None  # the key it is folded under, while folded
    clear_since: datetime | None = None  # its condition has been clear since (hold-down)
    calm_since: datetime | None = None  # a lower severity has held since (hold-down)
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Event:
    """Something to announce: the alert fires (or its severity changed), or it resolves."""

    status: str
    alert: AlertState
    previous_severity: str | None = None


@dataclass(frozen=True)
class Outcome:
    """The alerts open after an evaluation, those it resolved, and what to announce."""

    open: dict[str, AlertState]
    resolved: list[AlertState]
    events: list[Event]


# --- facts -> conditions ----------------------------------------------------------------------


def conditions(facts: Facts, policy: Policy) -> list[Condition]:
    """Return the conditions that hold for ``facts`` under ``policy``."""
    found = [
        *_availability(facts, policy),
        *_lag(facts, policy),
        *_dead_letters(facts),
        *_credentials(facts),
        *_reconcile(facts, policy),
    ]
    for channel, error in sorted(facts.failing_channels.items()):
        found.append(
            Condition(
                CHANNEL,
                f"{CHANNEL}:{channel}",
                WARNING,
                f"alert channel {channel} fails to deliver: {error}",
                {"channel": channel},
            )
        )
    return found


def _availability(facts: Facts, policy: Policy) -> list[Condition]:
    found = []
    p = facts.window_percent
    if p is not None and p < policy.sla_warning:
        severity = CRITICAL if p < policy.sla_critical else WARNING
        summary = (
            f"DingTalk availability {p:.2f}% over the last {facts.window_minutes} minutes "
            f"(warning below {policy.sla_warning:g}%, critical below {policy.sla_critical:g}%)"
        )
        found.append(Condition(AVAILABILITY, AVAILABILITY, severity, summary))
    m = facts.month_percent
    if m is not None and m < policy.sla_target:
        summary = (
            f"DingTalk month-to-date availability {m:.3f}% in {facts.month} is below the "
            f"contracted {policy.sla_target:g}%: service credits may be claimed"
        )
        key = f"{SLA_BREACH}:{facts.month}"
        found.append(Condition(SLA_BREACH, key, ESCALATION, summary, {"month": facts.month}))
    return found


def _lag(facts: Facts, policy: Policy) -> list[Condition]:
    age = facts.oldest_change_seconds
    if age is None or age <= policy.lag_seconds:
        return []
    severity = CRITICAL if age > 3 * policy.lag_seconds else WARNING
    summary = (
        f"the oldest of {facts.waiting_changes} waiting change(s) has waited {age:.0f} s "
        f"(warning over {policy.lag_seconds:.0f} s, critical over {3 * policy.lag_seconds:.0f} s)"
    )
    return [Condition(SYNC_LAG, SYNC_LAG, severity, summary, transient=facts.lag_retrying)]


def _dead_letters(facts: Facts) -> list[Condition]:
    if facts.dead_letters <= 0:
        return []
    summary = (
        f"{facts.dead_letters} change(s) on the dead-letter list: `scim-bridge dlq list` says "
        "why, `scim-bridge dlq retry` queues them again"
    )
    transient = facts.dead_letters_transient >= facts.dead_letters
    labels = dict(facts.newest_dead_letter)
    return [Condition(DEAD_LETTERS, DEAD_LETTERS, WARNING, summary, labels, transient=transient)]


def _credentials(facts: Facts) -> list[Condition]:
    if facts.token_ok is not False:
        return []
    summary = f"DingTalk refuses our credentials or token: {facts.token_reason or 'no reason'}"
    return [Condition(CREDENTIALS, CREDENTIALS, CRITICAL, summary)]


def _reconcile(facts: Facts, policy: Policy) -> list[Condition]:
    accuracy = facts.reconcile_accuracy
    if accuracy is None or accuracy >= policy.accuracy_percent:
        return []
    summary = (
        f"reconcile found DingTalk {accuracy:.2f}% accurate "
        f"(below {policy.accuracy_percent:g}%): `scim-bridge reconcile` shows the drift"
    )
    return [Condition(RECONCILE, RECONCILE, WARNING, summary)]


# --- conditions + open alerts -> outcome ------------------------------------------------------


def evaluate(
    previous: Mapping[str, AlertState],
    active: Sequence[Condition],
    *,
    now: datetime,
    hold_down: timedelta,
) -> Outcome:
    """Decide what is open, what resolves and what to announce, for conditions holding ``now``."""
    by_key = {c.key: c for c in active}
    out = Outcome(open={}, resolved=[], events=[])
    # The parent first: whether it is still open decides what its siblings do.
    keys = sorted(set(previous) | set(by_key), key=lambda k: (k != AVAILABILITY, k))
    for key in keys:
        parent_open = AVAILABILITY in out.open
        cond, prev = by_key.get(key), previous.get(key)
        if prev is None:
            assert cond is not None
            _fire(out, cond, now=now, fold=cond.transient and parent_open)
        elif cond is None:
            _clear(out, prev, now=now, hold_down=hold_down)
        else:
            _hold(out, prev, cond, now=now, hold_down=hold_down, parent_open=parent_open)
    return out


def _fire(out: Outcome, cond: Condition, *, now: datetime, fold: bool) -> None:
    state = AlertState(
        key=cond.key,
        rule=cond.rule,
        severity=cond.severity,
        summary=cond.summary,
        started_at=now,
        announced=not fold,
        parent=AVAILABILITY if fold else None,
        labels=dict(cond.labels),
    )
    out.open[cond.key] = state
    out.events.append(Event(FIRING, state))  # folded: a line under the outage, not a page


def _clear(out: Outcome, prev: AlertState, *, now: datetime, hold_down: timedelta) -> None:
    since = prev.clear_since or now
    if now - since < hold_down:
        out.open[prev.key] = replace(prev, clear_since=since, calm_since=None)
        return
    out.resolved.append(prev)
    out.events.append(Event(RESOLVED, prev))  # still folded: resolves where it was told


def _hold(
    out: Outcome,
    prev: AlertState,
    cond: Condition,
    *,
    now: datetime,
    hold_down: timedelta,
    parent_open: bool,
) -> None:
    severity, calm_since = prev.severity, None
    if _RANK[cond.severity] > _RANK[prev.severity]:
        severity = cond.severity  # worse: at once
    elif _RANK[cond.severity] < _RANK[prev.severity]:
        calm_since = prev.calm_since or now  # better: only once it has held for the hold-down
        if now - calm_since >= hold_down:
            severity, calm_since = cond.severity, None
    parent = prev.parent if (parent_open and cond.transient) else None
    state = replace(
        prev,
        severity=severity,
        summary=cond.summary,
        parent=parent,
        clear_since=None,
        calm_since=calm_since,
        announced=prev.announced or parent is None,
        labels=dict(cond.labels),
    )
    out.open[prev.key] = state
    if parent is not None:
        return  # still folded under the outage: recorded, not announced
    if not prev.announced:
        out.events.append(Event(FIRING, state))  # outlived the outage it was folded under
    elif severity != prev.severity:
        out.events.append(Event(FIRING, state, previous_severity=prev.severity))
