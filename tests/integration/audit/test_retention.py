"""Retention: records older than the configured days go, a prefix of the chain at a time, and
the chain still verifies from the retained start; tampering after it is still caught."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from scim_bridge.cli import main
from scim_bridge.directory import audit
from scim_bridge.directory.db import Database
from scim_bridge.directory.rows import Context
from scim_bridge.directory.tokens import Principal
from scim_bridge.monitor.audit import verify
from scim_bridge.monitor.audit_chain import chain_pending
from scim_bridge.monitor.audit_retention import prune_expired, retention_job
from scim_bridge.settings import Settings
from scim_bridge.sync.schedule import schedule_jobs

T0 = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)
KEEP = timedelta(days=400)


def write(database: Database, *days: float) -> None:
    """Append one SCIM record per day offset from T0, in that (commit) order."""
    principal = Principal(token_id=1, name="okta", idp="okta", profile="okta")
    for n, day in enumerate(days):
        ctx = Context(principal=principal, now=T0 + timedelta(days=day), request_id=f"r{n}")
        with database.transaction() as cur:
            audit.record_change(
                cur,
                ctx,
                resource_type="User",
                resource_id=f"user-{n}",
                operation="PATCH",
                status=200,
                changes={"title": [None, f"day {day}"]},
            )


def seqs(database: Database) -> list[int]:
    with database.read() as session:
        return list(session.scalars(text("SELECT seq FROM audit_records ORDER BY seq")))


def sql(database: Database, statement: str, **params: Any) -> None:
    with database.write() as session:
        session.execute(text(statement), params)


def verify_line(db_url: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["audit", "verify"], env={"SCIM_BRIDGE_DATABASE_URL": db_url})
    return result.exit_code, result.output


@pytest.fixture
def pruned(database: Database) -> Database:
    """Ten records a day apart, chained in batches of three; the five oldest pruned."""
    write(database, *range(10))
    chain_pending(database, now=T0, batch=3)  # checkpoints at positions 3, 6, 9 and 10
    assert prune_expired(database, now=T0 + KEEP + timedelta(days=4.5), keep=KEEP) == 5
    return database


def test_pruning_keeps_the_chain_verifiable_from_the_retained_start(
    pruned: Database, db_url: str
) -> None:
    assert seqs(pruned) == [6, 7, 8, 9, 10]
    with pruned.read() as session:
        verdict = verify(session)
    assert verdict.intact, verdict.problem
    assert (verdict.records, verdict.head_seq) == (5, 10)
    code, out = verify_line(db_url)
    assert code == 0, out
    assert "5 record(s)" in out


def test_a_truncation_after_a_checkpoint_is_still_caught(pruned: Database, db_url: str) -> None:
    sql(pruned, "DELETE FROM audit_records WHERE seq >= 9")
    code, out = verify_line(db_url)
    assert code == 1
    assert "chain position 9 is missing: the chain ends at position 8" in out


def test_deleting_the_first_retained_record_is_caught(pruned: Database, db_url: str) -> None:
    sql(pruned, "DELETE FROM audit_records WHERE seq = 6")
    code, out = verify_line(db_url)
    assert code == 1
    assert "chain position 6 is missing" in out


def test_only_a_prefix_goes_and_the_chain_continues_after_everything_went(
    database: Database,
) -> None:
    write(database, 0, 1, 300, 2)  # the fourth committed after a newer one: it waits
    chain_pending(database, now=T0)
    assert prune_expired(database, now=T0 + KEEP + timedelta(days=10), keep=KEEP) == 2
    assert seqs(database) == [3, 4]
    # Later, everything has expired; new records continue the chain where it was.
    assert retention_job(database, now=T0 + KEEP + timedelta(days=400), days=400) == 2
    assert seqs(database) == []
    write(database, 900)
    chain_pending(database, now=T0)
    assert seqs(database) == [5]
    with database.read() as session:
        verdict = verify(session)
    assert verdict.intact, verdict.problem
    assert verdict.head_seq == 5


def test_the_retention_setting_defaults_to_400_days() -> None:
    assert Settings().audit_retention_days == 400


def test_a_retention_of_zero_days_is_refused_in_one_line() -> None:
    result = CliRunner().invoke(
        main, ["audit", "verify"], env={"SCIM_BRIDGE_AUDIT_RETENTION_DAYS": "0"}
    )
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: setting audit_retention_days must be at least 1 (days; the default is 400) "
        "(set SCIM_BRIDGE_AUDIT_RETENTION_DAYS)"
    ]


def test_the_worker_prunes_daily_with_the_configured_days(database: Database, worker: Any) -> None:
    write(database, 0, 1, 2)  # T0 is more than 400 days before the worker's (real) clock
    chain_pending(database, now=T0)
    jobs = {job.id: job for job in schedule_jobs(worker).get_jobs()}
    assert "prune-sync-events" not in jobs
    job = jobs["audit-retention"]
    assert job.trigger.interval == timedelta(days=1)
    assert worker.config.audit_retention_days == 400
    assert job.func() is True  # this worker claimed the day's tick (issue 14: once per deployment)
    assert seqs(database) == []
    with database.read() as session:
        assert verify(session).intact


def test_the_setting_reaches_the_worker(db_url: str, database: Database, worker: Any) -> None:
    from scim_bridge.bootstrap import build_worker

    settings = Settings(database_url=db_url, audit_retention_days=30)
    built = build_worker(settings, database, client=worker.translator.client)
    assert built.config.audit_retention_days == 30
