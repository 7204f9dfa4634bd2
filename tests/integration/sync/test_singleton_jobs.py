"""Scheduled singletons run once per tick across processes (issue 14, sync/singleton_jobs.py).

Two "processes" here are two holders on their own Database objects (their own connection
pools), as two workers on two hosts would be; SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from scim_bridge.bootstrap import build_worker
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import BridgeState, JobTick
from scim_bridge.monitor.lag_history import STATE_KEY
from scim_bridge.settings import Settings
from scim_bridge.sync.schedule import schedule_jobs
from scim_bridge.sync.singleton_jobs import aligned_interval, singleton, tick_of
from scim_bridge.sync.worker import WorkerConfig

T0 = datetime(2026, 12, 7, 4, 0, 0, 300_000, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


class Clock:
    """A clock the test moves."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def other(db_url: str) -> Iterator[Database]:
    """A second Database on the same URL: another process's pool."""
    db = Database(db_url)
    yield db
    db.dispose()


def ticks(database: Database, job: str) -> list[tuple[datetime, str, str | None]]:
    with database.read() as session:
        rows = session.execute(
            select(JobTick.tick, JobTick.holder, JobTick.outcome)
            .where(JobTick.job == job)
            .order_by(JobTick.tick)
        )
        return [(t if t.tzinfo else t.replace(tzinfo=UTC), h, o) for t, h, o in rows]


def test_a_tick_is_run_by_the_first_holder_only(database: Database, other: Database) -> None:
    clock, runs = Clock(T0), []
    first = singleton(
        database, "job", lambda: runs.append("a"), every=MINUTE, holder="a", clock=clock
    )
    second = singleton(
        other, "job", lambda: runs.append("b"), every=MINUTE, holder="b", clock=clock
    )
    assert first() is True
    clock.now = T0 + timedelta(seconds=40)  # the other host fires later in the same minute
    assert second() is False
    assert runs == ["a"]
    assert ticks(database, "job") == [(T0.replace(second=0, microsecond=0), "a", "ok")]


def test_the_next_tick_is_claimed_by_whoever_fires_first(
    database: Database, other: Database
) -> None:
    clock, runs = Clock(T0), []
    a = singleton(database, "job", lambda: runs.append("a"), every=MINUTE, holder="a", clock=clock)
    b = singleton(other, "job", lambda: runs.append("b"), every=MINUTE, holder="b", clock=clock)
    assert a() and not b()
    clock.now += MINUTE
    assert b() and not a()  # "a" died, say: "b" carries on without an election
    assert runs == ["a", "b"]
    assert [holder for _, holder, _ in ticks(database, "job")] == ["a", "b"]


def test_concurrent_claims_of_one_tick_run_it_once(database: Database, db_url: str) -> None:
    clock, runs, lock = Clock(T0), [], threading.Lock()
    pools = [Database(db_url) for _ in range(4)]
    start = threading.Barrier(len(pools))

    def body(name: str) -> None:
        with lock:
            runs.append(name)

    def fire(index: int) -> None:
        job = singleton(
            pools[index],
            "job",
            lambda: body(str(index)),
            every=MINUTE,
            holder=str(index),
            clock=clock,
        )
        start.wait(timeout=10)
        job()

    threads = [threading.Thread(target=fire, args=(i,)) for i in range(len(pools))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for pool in pools:
        pool.dispose()
    assert len(runs) == 1
    assert [holder for _, holder, _ in ticks(database, "job")] == runs


def test_a_failed_run_is_recorded_and_the_next_tick_runs(database: Database) -> None:
    clock, runs = Clock(T0), []

    def body() -> None:
        runs.append(clock.now)
        if len(runs) == 1:
            raise RuntimeError("DingTalk answered nonsense")

    job = singleton(database, "job", body, every=MINUTE, holder="a", clock=clock)
    assert job() is True  # the failure is logged, never raised into the scheduler
    assert job() is False  # the same tick is not retried
    clock.now += MINUTE
    assert job() is True
    assert [outcome for _, _, outcome in ticks(database, "job")] == ["RuntimeError", "ok"]


def test_old_ticks_are_forgotten(database: Database) -> None:
    clock = Clock(T0)
    job = singleton(database, "job", lambda: None, every=MINUTE, holder="a", clock=clock)
    job()
    clock.now += timedelta(days=3)
    job()
    assert [t for t, _, _ in ticks(database, "job")] == [tick_of(clock.now, MINUTE)]


def test_ticks_are_aligned_to_the_epoch_whatever_the_start() -> None:
    assert tick_of(T0, timedelta(seconds=5)) == T0.replace(microsecond=0)
    assert tick_of(T0 + timedelta(seconds=7), timedelta(seconds=5)) == T0.replace(
        second=5, microsecond=0
    )
    trigger = aligned_interval(5)
    after = trigger.get_next_fire_time(None, T0 + timedelta(seconds=1))
    assert after == T0.replace(second=5, microsecond=0)


def test_two_workers_sample_the_lag_once_per_tick(
    settings: Settings, database: Database, other: Database, worker: Any
) -> None:
    """The lag-sample job (issue 13) runs in one worker of the deployment, not in each."""
    clock = Clock(T0)
    config = WorkerConfig(threads=1, lag_sample_seconds=30)
    client = worker.translator.client
    workers = [
        build_worker(settings, db, client=client, config=config, clock=clock)
        for db in (database, other)
    ]
    jobs = [schedule_jobs(w).get_job("lag-sample") for w in workers]
    assert all(job is not None for job in jobs)
    assert [job.func() for job in jobs] == [True, False]  # type: ignore[union-attr]
    clock.now += timedelta(seconds=30)
    assert [job.func() for job in jobs] == [True, False]  # type: ignore[union-attr]
    holders = [holder for _, holder, _ in ticks(database, "lag-sample")]
    assert holders == [workers[0].owner, workers[0].owner]
    with database.read() as session:
        assert session.get(BridgeState, STATE_KEY) is not None


@pytest.mark.parametrize(
    "job_id", ["audit-retention", "lag-sample", "alerts", "sla-probe", "sla-report", "reconcile"]
)
def test_every_deployment_wide_job_is_a_singleton(
    settings: Settings, database: Database, worker: Any, job_id: str
) -> None:
    built = build_worker(
        settings.replace(reconcile_cron="* * * * *"),
        database,
        client=worker.translator.client,
        config=WorkerConfig(threads=1),
    )
    job = schedule_jobs(built).get_job(job_id)
    assert job is not None
    assert getattr(job.func, "job", None) == job_id
