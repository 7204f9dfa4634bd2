"""GCRA's arithmetic and the dependency audit's verdicts (issue 14): pure, no database."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from scim_bridge.directory.rate_limits import (
    Limits,
    LocalRateLimiter,
    admit,
    charge,
    effective_limits,
    retry_after,
)

FIVE_PER_SECOND = Limits(rate_per_second=5, burst=10, max_concurrent=0)


def test_a_full_bucket_admits_the_burst_at_once_then_one_per_interval() -> None:
    limiter = LocalRateLimiter()
    at = 1_000.0
    assert [limiter.check(1, FIVE_PER_SECOND, now=at).admitted for _ in range(11)] == [
        True
    ] * 10 + [False]
    assert limiter.check(1, FIVE_PER_SECOND, now=at + 0.2).admitted
    assert not limiter.check(1, FIVE_PER_SECOND, now=at + 0.2).admitted
    # Another token has a budget of its own.
    assert limiter.check(2, FIVE_PER_SECOND, now=at).admitted


def test_a_refused_request_changes_nothing() -> None:
    increment, tolerance = charge(FIVE_PER_SECOND, 1)
    assert admit(1_002.0, 1_000.0, increment=increment, tolerance=tolerance) is None
    assert admit(1_001.8, 1_000.0, increment=increment, tolerance=tolerance) == pytest.approx(
        1_002.0
    )


@pytest.mark.parametrize(
    ("tat", "now", "expected"),
    [(1_002.0, 1_000.0, 1), (1_011.0, 1_000.0, 10), (1_002.05, 1_000.0, 1), (1_003.2, 1_000, 2)],
)
def test_retry_after_is_whole_seconds_rounded_up_and_at_least_one(
    tat: float, now: float, expected: int
) -> None:
    increment, tolerance = charge(FIVE_PER_SECOND, 1)
    assert retry_after(tat, now, increment=increment, tolerance=tolerance) == expected


def test_a_cost_above_the_burst_is_charged_as_the_burst() -> None:
    assert charge(FIVE_PER_SECOND, 1_000) == pytest.approx((2.0, 2.0))
    assert charge(FIVE_PER_SECOND, 3) == pytest.approx((0.6, 2.0))


def test_a_tokens_own_limits_win_and_none_means_the_default() -> None:
    mine = effective_limits(FIVE_PER_SECOND, rate_per_second=0, burst=None, max_concurrent=3)
    assert mine == Limits(rate_per_second=0, burst=10, max_concurrent=3)
    assert not mine.limited


def audit_script() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "scripts" / "dependency_audit.py"
    spec = importlib.util.spec_from_file_location("dependency_audit", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_audit_never_calls_a_run_that_audited_nothing_clean() -> None:
    verdict = audit_script().verdict
    skipped = {"name": "flask", "version": "3.1.2", "skip_reason": "Dependency not found"}
    clean = {"name": "flask", "version": "3.1.2", "vulns": []}
    vulnerable = {
        "name": "jinja2",
        "version": "3.0.0",
        "vulns": [{"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"]}],
    }
    assert verdict("pypi", {"dependencies": [skipped, skipped]})[0] is None
    assert verdict("osv", {"dependencies": [skipped, clean]})[0] is True
    found, lines = verdict("osv", {"dependencies": [clean, vulnerable]})
    assert found is False
    assert lines == ["jinja2 3.0.0: GHSA-h5c8-rqwp-cp95 (fixed in 3.1.3)"]
