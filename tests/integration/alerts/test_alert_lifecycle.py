"""Each alert rule fires once and resolves once per episode, over real channels (issue 12).

Every evaluation is an explicit ``run_once()`` at the injected clock; the receiver on 127.0.0.1
plays the ITSM tool, the escalation webhook and the DingTalk robot (checking its signature).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from alert_receiver import Clock, Receiver
from alert_support import (
    Accuracy,
    Figures,
    add_dead_letter,
    alert_rows,
    clear_dead_letters,
    clear_outbox,
    delivery_rows,
    events,
    token_state,
    wait_change,
)

from scim_bridge.directory.db import Database
from scim_bridge.sync.alerting import AlertEngine

SECOND = timedelta(seconds=1)
Setter = Callable[[Database, AlertEngine, Clock, bool], None]


def lag(database: Database, engine: AlertEngine, clock: Clock, on: bool) -> None:
    if on:
        wait_change(database, since=clock() - 400 * SECOND)
    else:
        clear_outbox(database)


def dead_letters(database: Database, engine: AlertEngine, clock: Clock, on: bool) -> None:
    if on:
        add_dead_letter(database, at=clock())
    else:
        clear_dead_letters(database)


def credentials(database: Database, engine: AlertEngine, clock: Clock, on: bool) -> None:
    token_state(database, ok=not on, at=clock())


def availability(database: Database, engine: AlertEngine, clock: Clock, on: bool) -> None:
    engine.availability = Figures(window=93.0 if on else 100.0, month=100.0)


def month_to_date(database: Database, engine: AlertEngine, clock: Clock, on: bool) -> None:
    engine.availability = Figures(window=100.0, month=99.5 if on else 99.95)


def reconcile(database: Database, engine: AlertEngine, clock: Clock, on: bool) -> None:
    engine.accuracy = Accuracy(97.0 if on else 100.0)


CASES = [
    ("sync_lag", "warning", lag),
    ("dead_letters", "warning", dead_letters),
    ("dingtalk_credentials", "critical", credentials),
    ("dingtalk_availability", "warning", availability),
    ("dingtalk_sla_breach", "escalation", month_to_date),
    ("reconcile_accuracy", "warning", reconcile),
]


@pytest.mark.parametrize(("rule", "severity", "setter"), CASES, ids=[c[0] for c in CASES])
def test_each_rule_fires_once_and_resolves_once_after_the_hold_down(
    database: Database,
    engine: AlertEngine,
    clock: Clock,
    receiver: Receiver,
    rule: str,
    severity: str,
    setter: Setter,
) -> None:
    setter(database, engine, clock, True)
    engine.run_once()
    for _ in range(3):  # still true: nothing more to say
        clock.advance(minutes=1)
        engine.run_once()
    assert events(receiver.itsm) == [("firing", rule, severity)]

    setter(database, engine, clock, False)
    for _ in range(4):  # clear, but not yet for the whole hold-down (5 minutes)
        clock.advance(minutes=1)
        engine.run_once()
    assert events(receiver.itsm) == [("firing", rule, severity)]
    clock.advance(minutes=1)
    engine.run_once()
    clock.advance(minutes=1)
    engine.run_once()

    assert events(receiver.itsm) == [("firing", rule, severity), ("resolved", rule, severity)]
    firing, resolved = receiver.itsm
    assert firing["key"] == resolved["key"]
    assert resolved["started_at"] == firing["started_at"] and "ended_at" in resolved
    # The robot carried the same two events, one signed message each.
    assert len(receiver.robot) == 2 and not receiver.robot_refused
    assert "FIRING" in receiver.robot[0]["markdown"]["text"]
    assert rule in receiver.robot[1]["markdown"]["text"]
    assert "RESOLVED" in receiver.robot[1]["markdown"]["text"]
    # Only the month-to-date breach goes to the people who claim service credits.
    expected = 2 if severity == "escalation" else 0
    assert len(receiver.escalation) == expected
    [row] = alert_rows(database)
    assert (row.rule, row.status, row.resolved_at is not None) == (rule, "resolved", True)


def test_severity_change_keeps_the_key_and_falls_back_only_after_the_hold_down(
    database: Database, engine: AlertEngine, clock: Clock, receiver: Receiver
) -> None:
    wait_change(database, since=clock() - 400 * SECOND)  # over 300 s: warning
    engine.run_once()
    clock.advance(minutes=10)  # now 1000 s: over 3 x 300 s, critical
    engine.run_once()
    assert events(receiver.itsm) == [
        ("firing", "sync_lag", "warning"),
        ("firing", "sync_lag", "critical"),
    ]
    assert receiver.itsm[1]["labels"] == {"previous_severity": "warning"}
    assert receiver.itsm[0]["key"] == receiver.itsm[1]["key"] == "sync_lag"

    wait_change(database, since=clock() - 400 * SECOND)  # back to warning
    for _ in range(5):  # warning-level for 0..4 minutes: below the hold-down
        clock.advance(minutes=1)
        wait_change(database, since=clock() - 400 * SECOND)
        engine.run_once()
    assert len(receiver.itsm) == 2  # no see-saw while it might still be critical
    clock.advance(minutes=1)  # warning-level for the whole hold-down now
    wait_change(database, since=clock() - 400 * SECOND)
    engine.run_once()
    assert events(receiver.itsm)[-1] == ("firing", "sync_lag", "warning")
    assert [row.key for row in alert_rows(database)] == ["sync_lag"]  # one alert throughout


def test_a_condition_flapping_within_the_hold_down_neither_resolves_nor_fires_again(
    database: Database, engine: AlertEngine, clock: Clock, receiver: Receiver
) -> None:
    for minute in range(12):
        if minute % 2 == 0:
            add_dead_letter(database, at=clock())
        else:
            clear_dead_letters(database)
        engine.run_once()
        clock.advance(minutes=1)
    assert events(receiver.itsm) == [("firing", "dead_letters", "warning")]
    clear_dead_letters(database)
    for _ in range(6):
        engine.run_once()
        clock.advance(minutes=1)
    assert events(receiver.itsm)[-1] == ("resolved", "dead_letters", "warning")
    assert len(receiver.itsm) == 2


def test_a_dingtalk_outage_folds_the_lag_and_dead_letters_its_transient_errors_cause(
    database: Database, engine: AlertEngine, clock: Clock, receiver: Receiver
) -> None:
    engine.availability = Figures(window=80.0, month=100.0)  # critical
    wait_change(database, since=clock() - 400 * SECOND, attempts=2)  # backing off
    add_dead_letter(database, at=clock(), code="-1", resource_id="u-busy")  # system busy
    engine.run_once()
    assert events(receiver.itsm) == [("firing", "dingtalk_availability", "critical")]
    folded = {row.key: row.parent_key for row in alert_rows(database)}
    assert folded == {
        "dingtalk_availability": None,
        "sync_lag": "dingtalk_availability",
        "dead_letters": "dingtalk_availability",
    }
    # One robot message for the outage; what it causes are lines of it, not pages.
    [digest] = receiver.robot
    text = digest["markdown"]["text"]
    assert text.count("grouped under `dingtalk_availability`") == 2
    assert "sync_lag" in text and "dead_letters" in text

    # DingTalk recovers; the dead letter is retried away, but the backlog is still old.
    engine.availability = Figures(window=100.0, month=100.0)
    clear_dead_letters(database)
    for _ in range(6):
        clock.advance(minutes=1)
        wait_change(database, since=clock() - 400 * SECOND, attempts=2)
        engine.run_once()
    assert events(receiver.itsm) == [
        ("firing", "dingtalk_availability", "critical"),
        ("resolved", "dingtalk_availability", "critical"),
        ("firing", "sync_lag", "warning"),  # it outlived the outage: announced now
    ]


def test_a_dead_letter_of_our_own_making_is_not_folded_under_an_outage(
    database: Database, engine: AlertEngine, clock: Clock, receiver: Receiver
) -> None:
    engine.availability = Figures(window=80.0, month=100.0)
    add_dead_letter(database, at=clock(), code="40035")  # a bad mobile: not DingTalk's doing
    engine.run_once()
    assert sorted(events(receiver.itsm)) == [
        ("firing", "dead_letters", "warning"),
        ("firing", "dingtalk_availability", "critical"),
    ]
    assert len(receiver.robot) == 1  # both in one digest
    text = receiver.robot[0]["markdown"]["text"]
    assert "dead_letters" in text and "dingtalk_availability" in text


def test_resolved_alerts_are_kept_half_a_year_then_forgotten(
    database: Database, engine: AlertEngine, clock: Clock, receiver: Receiver
) -> None:
    add_dead_letter(database, at=clock())
    engine.run_once()
    clear_dead_letters(database)
    clock.advance(minutes=1)
    engine.run_once()
    clock.advance(minutes=5)
    engine.run_once()  # resolved now
    clock.advance(days=179)
    engine.run_once()
    assert [row.status for row in alert_rows(database)] == ["resolved"]
    clock.advance(days=2)
    engine.run_once()
    assert alert_rows(database) == [] and delivery_rows(database) == []
