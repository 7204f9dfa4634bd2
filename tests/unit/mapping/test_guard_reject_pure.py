"""The guard's pure reject: an operator's "no" names the paused burst and the people it holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scim_bridge.mapping.guard import GuardError, Removal, evaluate_guard, reject
from scim_bridge.mapping.rules import GuardRules

T0 = datetime(2024, 6, 3, 7, 0, tzinfo=UTC)
RULES = GuardRules(enabled=True, max_removal_percent=20, window_minutes=60)
NOW = T0 + timedelta(minutes=5)


def test_reject_holds_exactly_the_paused_people() -> None:
    removals = [Removal(f"u{i}", T0 + timedelta(seconds=i)) for i in range(30)]
    paused = evaluate_guard(removals, active_users=100, now=NOW, rules=RULES)
    rejection = reject(paused, f" {paused.token} ", now=NOW)
    assert rejection.token == paused.token and rejection.rejected_at == NOW
    assert rejection.pending == tuple(sorted(f"u{i}" for i in range(30)))


def test_reject_refuses_a_flowing_guard_and_another_bursts_token() -> None:
    calm = evaluate_guard([Removal("u1", T0)], active_users=100, now=NOW, rules=RULES)
    with pytest.raises(GuardError, match="nothing to reject"):
        reject(calm, calm.token, now=NOW)
    removals = [Removal(f"u{i}", T0) for i in range(30)]
    paused = evaluate_guard(removals, active_users=100, now=NOW, rules=RULES)
    with pytest.raises(GuardError, match="does not match the paused removals"):
        reject(paused, "0123abcd", now=NOW)
