"""Scheduled singletons: a job every worker schedules and exactly one runs, per tick (issue 14).

design.md: singletons hold a *database* lock, so workers on several hosts run them once. A
host-local file lock (sync/runtime_files.py) cannot see a worker on another host, and a lock
held only while a job runs (``pg_try_advisory_xact_lock``) stops two runs at once but not two
runs one after the other in the same tick: a 50 ms job is over before the other host's
scheduler fires. So each run first claims its tick: it inserts the row ``(job, tick)`` into
``job_ticks`` in its own short transaction, and runs only if its insert made the row. The
primary key does the mutual exclusion, on PostgreSQL (a concurrent insert of the same key waits
for the first to commit, then does nothing) and on SQLite (``BEGIN IMMEDIATE``, one writer)
alike, and the row records who ran the tick and how it ended.

Ticks are aligned to the epoch: every process's trigger fires at the same instants
(``aligned_interval``) and names the same tick, whichever process wins it. There is no leader
to elect and so none to fail over: when a worker dies, the next tick is claimed by one that
lives. A tick whose runner died mid-run is not run again; the next tick is (the jobs made
singletons here are periodic, and each run does the whole of its work).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from scim_bridge.directory.db import Database
from scim_bridge.directory.models import JobTick

log = logging.getLogger("scim_bridge.sync.singletons")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: A cron job (reconcile, the monthly report) fires at most once a minute: its tick.
CRON_TICK = timedelta(minutes=1)
#: Rows are kept at least this long (and at least three ticks) as the record of who ran what.
KEEP = timedelta(days=2)


def tick_of(now: datetime, every: timedelta) -> datetime:
    """Return the start of the tick ``now`` falls in: ticks of ``every`` from the epoch."""
    seconds = every.total_seconds()
    elapsed = (now.astimezone(UTC) - EPOCH).total_seconds()
    return EPOCH + timedelta(seconds=(elapsed // seconds) * seconds)


def aligned_interval(seconds: float) -> IntervalTrigger:
    """Return an interval trigger firing at multiples of ``seconds`` since the epoch.

    Every worker then fires at the same instants, so each fire falls early in its tick and
    names it unambiguously, whatever moment each process started."""
    return IntervalTrigger(seconds=seconds, start_date=EPOCH, timezone=UTC)


def claim_tick(db: Database, job: str, tick: datetime, *, holder: str, now: datetime) -> bool:
    """Claim ``tick`` of ``job`` for ``holder``; False if another process claimed it first."""
    with db.write() as session:
        dialect = session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = (
            insert(JobTick)
            .values(job=job, tick=tick, holder=holder[:128], started_at=now)
            .on_conflict_do_nothing()
            # RETURNING, not rowcount: a conflict returns no row on both databases.
            .returning(JobTick.job)
        )
        return session.execute(stmt).first() is not None


def finish_tick(db: Database, job: str, tick: datetime, *, outcome: str, now: datetime) -> None:
    """Record how a claimed tick ended."""
    with db.write() as session:
        session.execute(
            update(JobTick)
            .where(JobTick.job == job, JobTick.tick == tick)
            .values(finished_at=now, outcome=outcome[:64])
        )


def forget_ticks(db: Database, job: str, *, before: datetime) -> int:
    """Delete ``job``'s ticks older than ``before``; return how many."""
    with db.write() as session:
        gone = session.execute(delete(JobTick).where(JobTick.job == job, JobTick.tick < before))
        return int(getattr(gone, "rowcount", 0) or 0)


@dataclass(frozen=True)
class Singleton:
    """A scheduled job's body, run by the one process that claims the current tick."""

    db: Database
    job: str
    every: timedelta
    body: Callable[[], object]
    holder: str
    clock: Callable[[], datetime]

    def __call__(self) -> bool:
        """Run the body if this process claims the tick; True if it ran."""
        try:
            tick = tick_of(self.clock(), self.every)
            if not claim_tick(self.db, self.job, tick, holder=self.holder, now=self.clock()):
                return False
        except Exception:  # the database is away: the next tick tries again
            log.exception("singleton %s: claiming the tick failed", self.job)
            return False
        outcome = "ok"
        try:
            self.body()
        except Exception as exc:  # one failed run must not stop the scheduler
            outcome = type(exc).__name__
            log.exception("singleton %s (tick %s) failed", self.job, tick.isoformat())
        try:
            finish_tick(self.db, self.job, tick, outcome=outcome, now=self.clock())
            forget_ticks(self.db, self.job, before=tick - max(KEEP, 3 * self.every))
        except Exception:  # the run is done; only its record is incomplete
            log.exception("singleton %s: recording the tick's end failed", self.job)
        return True


def singleton(
    db: Database,
    job: str,
    body: Callable[[], object],
    *,
    every: timedelta,
    holder: str,
    clock: Callable[[], datetime],
) -> Singleton:
    """Wrap ``body`` so it runs once per tick of ``every`` across every worker process."""
    return Singleton(db=db, job=job, every=every, body=body, holder=holder, clock=clock)
