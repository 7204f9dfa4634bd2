"""The reliability suite (issue 14, acceptance 2): load, faults, kills, a database crash.

tests/e2e/reliability_run.py runs the scenario: IdP clients write through two API processes
for SCIM_BRIDGE_RELIABILITY_SECONDS of load (20 by default, so `make test` stays bounded; the
acceptance run and bench/reliability.py use 300) while DingTalk fails 20% of calls and
throttles, the worker and the API processes are SIGKILLed and restarted at seeded moments, and
PostgreSQL (a cluster of the test's own, never the shared one) crashes and restarts halfway.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from reliability_run import run
from scale_processes import pg_available

pytestmark = pytest.mark.slow
SECONDS = float(os.environ.get("SCIM_BRIDGE_RELIABILITY_SECONDS", "20"))
SEED = int(os.environ.get("SCIM_BRIDGE_RELIABILITY_SEED", "1"))


def test_load_faults_kills_and_a_database_crash_leave_dingtalk_exact(tmp_path: Path) -> None:
    missing = pg_available()
    if missing:
        pytest.skip(f"{missing}: the reliability test needs a PostgreSQL cluster of its own")
    summary = run(tmp_path, seconds=SECONDS, seed=SEED)
    print("\n".join(summary.lines()))
    assert summary.differences == [], f"evidence kept in {summary.evidence}"
    assert summary.unreflected == []
    assert summary.duplicates == []
    assert summary.dead_letters == []
    assert summary.audit_verify and not summary.audit_verify.startswith("FAILED"), summary
    # The run was a run: writes answered, faults met, processes killed, the database crashed.
    assert summary.writes > 0 and summary.dingtalk_faults > 0
    assert summary.worker_kills + summary.api_kills >= 1
    assert summary.postgres_restarts == 1
