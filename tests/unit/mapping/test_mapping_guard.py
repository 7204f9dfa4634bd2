"""The mass-change guard: a deactivation burst pauses projection until an operator confirms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scim_bridge.mapping import GuardError, Removal, confirm, evaluate_guard
from scim_bridge.mapping.rules import GuardRules

T0 = datetime(2024, 6, 3, 7, 0, tzinfo=UTC)
RULES = GuardRules(enabled=True, max_removal_percent=20, window_minutes=60)


def burst(n: int, start: datetime = T0, prefix: str = "u") -> list[Removal]:
    return [Removal(f"{prefix}{i}", start + timedelta(seconds=i)) for i in range(n)]


def test_a_60_percent_deactivation_burst_pauses_until_confirmed() -> None:
    removals = burst(60)
    now = T0 + timedelta(minutes=5)
    paused = evaluate_guard(removals, active_users=100, now=now, rules=RULES)
    assert not paused.allow
    assert (paused.removals, paused.percent) == (60, 60.0)
    assert "over the 20% limit" in paused.reason
    assert paused.token in paused.reason
    # Still paused on every evaluation until someone confirms.
    later = now + timedelta(minutes=10)
    assert not evaluate_guard(removals, active_users=100, now=later, rules=RULES).allow

    confirmation = confirm(paused, paused.token, now=now + timedelta(minutes=2))
    resumed = evaluate_guard(
        removals, active_users=100, now=later, rules=RULES, confirmation=confirmation
    )
    assert resumed.allow
    assert resumed.removals == 0


def test_removals_after_the_confirmation_count_afresh() -> None:
    removals = burst(60)
    now = T0 + timedelta(minutes=5)
    paused = evaluate_guard(removals, active_users=100, now=now, rules=RULES)
    confirmation = confirm(paused, paused.token, now=now)
    second = burst(30, start=now + timedelta(minutes=1), prefix="v")
    decision = evaluate_guard(
        removals + second,
        active_users=100,
        now=now + timedelta(minutes=2),
        rules=RULES,
        confirmation=confirmation,
    )
    assert not decision.allow
    assert decision.removals == 30
    assert decision.pending[0] == "v0"


def test_a_wrong_or_stale_token_does_not_release_the_guard() -> None:
    paused = evaluate_guard(burst(60), active_users=100, now=T0 + timedelta(minutes=5), rules=RULES)
    with pytest.raises(GuardError, match="does not match the paused removals"):
        confirm(paused, "not-the-token", now=T0)
    allowed = evaluate_guard(burst(1), active_users=100, now=T0 + timedelta(minutes=5), rules=RULES)
    with pytest.raises(GuardError, match="nothing to confirm"):
        confirm(allowed, allowed.token, now=T0)


def test_removals_below_the_limit_or_outside_the_window_are_allowed() -> None:
    assert evaluate_guard(
        burst(20), active_users=100, now=T0 + timedelta(minutes=1), rules=RULES
    ).allow
    old = burst(60, start=T0 - timedelta(hours=2))
    assert evaluate_guard(old, active_users=100, now=T0, rules=RULES).allow


def test_min_removals_and_disabling_the_guard() -> None:
    small = GuardRules(max_removal_percent=20, window_minutes=60, min_removals=5)
    assert evaluate_guard(
        burst(3), active_users=4, now=T0 + timedelta(minutes=1), rules=small
    ).allow
    off = GuardRules(enabled=False)
    assert evaluate_guard(
        burst(90), active_users=100, now=T0 + timedelta(minutes=2), rules=off
    ).allow


def test_the_token_names_the_burst_deterministically() -> None:
    a = evaluate_guard(burst(60), active_users=100, now=T0 + timedelta(minutes=5), rules=RULES)
    b = evaluate_guard(
        burst(60)[::-1], active_users=100, now=T0 + timedelta(minutes=5), rules=RULES
    )
    c = evaluate_guard(burst(61), active_users=100, now=T0 + timedelta(minutes=5), rules=RULES)
    assert a.token == b.token != c.token
