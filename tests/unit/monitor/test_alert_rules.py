"""The alert rules as pure functions: literal facts in, conditions and events out (issue 12)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scim_bridge.monitor.alert_rules import (
    FIRING,
    RESOLVED,
    Condition,
    Facts,
    Policy,
    conditions,
    evaluate,
)

NOW = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
POLICY = Policy()


def held(facts: Facts) -> set[tuple[str, str, str]]:
    return {(c.rule, c.key, c.severity) for c in conditions(facts, POLICY)}


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (Facts(), set()),
        (Facts(oldest_change_seconds=300), set()),  # "more than 5 minutes"
        (Facts(oldest_change_seconds=301), {("sync_lag", "sync_lag", "warning")}),
        (Facts(oldest_change_seconds=901), {("sync_lag", "sync_lag", "critical")}),
        (Facts(window_percent=95.0), set()),
        (Facts(window_percent=94.99), {("dingtalk_availability",) * 2 + ("warning",)}),
        (Facts(window_percent=89.99), {("dingtalk_availability",) * 2 + ("critical",)}),
        (Facts(month_percent=99.9, month="2026-12"), set()),
        (
            Facts(month_percent=99.89, month="2026-12"),
            {("dingtalk_sla_breach", "dingtalk_sla_breach:2026-12", "escalation")},
        ),
        (Facts(dead_letters=2), {("dead_letters", "dead_letters", "warning")}),
        (Facts(token_ok=True), set()),
        (Facts(token_ok=False), {("dingtalk_credentials",) * 2 + ("critical",)}),
        (Facts(reconcile_accuracy=99.0), set()),
        (Facts(reconcile_accuracy=98.9), {("reconcile_accuracy",) * 2 + ("warning",)}),
        (
            Facts(failing_channels={"itsm_webhook": "HTTP 500"}),
            {("alert_channel", "alert_channel:itsm_webhook", "warning")},
        ),
    ],
)
def test_each_rule_holds_exactly_beyond_its_threshold(
    facts: Facts, expected: set[tuple[str, str, str]]
) -> None:
    assert held(facts) == expected


def test_every_summary_names_what_to_look_at() -> None:
    facts = Facts(oldest_change_seconds=1000, waiting_changes=3, dead_letters=1, token_ok=False)
    summaries = {c.rule: c.summary for c in conditions(facts, POLICY)}
    assert "3 waiting change(s)" in summaries["sync_lag"] and "1000 s" in summaries["sync_lag"]
    assert "scim-bridge dlq list" in summaries["dead_letters"]
    assert "credentials" in summaries["dingtalk_credentials"]


def test_a_new_episode_after_a_resolve_is_a_new_alert_with_the_same_key() -> None:
    lag = Condition("sync_lag", "sync_lag", "warning", "waits")
    hold = timedelta(minutes=5)
    first = evaluate({}, [lag], now=NOW, hold_down=hold)
    cleared = evaluate(first.open, [], now=NOW + timedelta(minutes=1), hold_down=hold)
    resolved = evaluate(cleared.open, [], now=NOW + timedelta(minutes=6), hold_down=hold)
    again = evaluate(resolved.open, [lag], now=NOW + timedelta(minutes=7), hold_down=hold)
    assert [e.status for e in first.events + cleared.events + resolved.events] == [
        FIRING,
        RESOLVED,
    ]
    [event] = again.events
    assert (event.status, event.alert.key) == (FIRING, "sync_lag")
    assert event.alert.started_at == NOW + timedelta(minutes=7)


def test_without_a_hold_down_an_alert_resolves_at_the_first_clear_evaluation() -> None:
    lag = Condition("sync_lag", "sync_lag", "warning", "waits")
    first = evaluate({}, [lag], now=NOW, hold_down=timedelta(0))
    cleared = evaluate(first.open, [], now=NOW + timedelta(minutes=1), hold_down=timedelta(0))
    assert [e.status for e in cleared.events] == [RESOLVED] and cleared.open == {}
