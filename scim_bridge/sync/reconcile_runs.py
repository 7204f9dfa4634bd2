"""Every reconcile as a row of ``reconcile_runs``, and the lock that keeps it one at a time.

design.md: singletons hold a *database* lock, so two workers on two hosts (or a worker and an
operator's ``scim-bridge reconcile``) never walk DingTalk twice at once. A run that has not
finished and whose lease has not expired is the lock; starting one is a check-and-insert made
atomic by the transaction's own lock (PostgreSQL: ``pg_advisory_xact_lock``, as
monitor/audit_chain.py does; SQLite: ``BEGIN IMMEDIATE``, its one writer). A run that crashed
stops renewing its lease and is marked abandoned by the next one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from scim_bridge.directory.db import Database
from scim_bridge.directory.models import ReconcileRun
from scim_bridge.errors import ReconcileBusy
from scim_bridge.monitor.reconcile_state import aware

RUNNING, DONE, FAILED, ABANDONED = "running", "done", "failed", "abandoned"
#: pg_advisory_xact_lock key of the reconcile's start: "scimreco" as a 64-bit integer.
_LOCK_KEY = int.from_bytes(b"scimreco", "big") & 0x7FFF_FFFF_FFFF_FFFF
#: How long a run holds the lock without renewing it (renewed as it reads, see Reconcile).
LEASE = timedelta(minutes=10)


@dataclass(frozen=True)
class RunStart:
    """How a run was asked for."""

    mode: str  # full | incremental | targeted
    trigger: str  # cli | schedule | event
    applied: bool
    holder: str


def _serialise(session: Session) -> None:
    """Make this transaction the only one starting a reconcile (released at commit)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    # SQLite: Database.write() began with BEGIN IMMEDIATE: this is the only writer.


def start(db: Database, how: RunStart, *, now: datetime, exclusive: bool = True) -> int:
    """Record a run as started and return its id; raise ReconcileBusy if one holds the lock.

    A targeted run (``exclusive=False``) reads a handful of records and does not wait for, or
    block, a full one: its repairs go through the outbox like everything else.
    """
    with db.write() as session:
        _serialise(session)
        if exclusive:
            _hold(session, now=now)
        row = ReconcileRun(
            started_at=now,
            lease_expires_at=now + LEASE,
            holder=how.holder[:128],
            status=RUNNING,
            mode=how.mode,
            trigger=how.trigger,
            applied=how.applied,
            compared=0,
            calls_estimated=0,
            calls_made=0,
        )
        session.add(row)
        session.flush()
        return int(row.id)


def _hold(session: Session, *, now: datetime) -> None:
    running = list(
        session.scalars(
            select(ReconcileRun).where(
                ReconcileRun.finished_at.is_(None), ReconcileRun.mode != "targeted"
            )
        )
    )
    for run in running:
        if aware(run.lease_expires_at) > now:
            raise ReconcileBusy(
                f"a reconcile is already running (run {run.id}, {run.mode}, started "
                f"{aware(run.started_at):%Y-%m-%d %H:%M:%S} UTC by {run.holder}); "
                "wait for it to finish (`scim-bridge reconcile --history`)"
            )
        # Its process stopped renewing the lease: it died; its lock is released.
        run.status, run.finished_at = ABANDONED, now
        run.error = "the process running it stopped before finishing"


def renew(db: Database, run_id: int, *, now: datetime) -> None:
    """Extend a running reconcile's lease (called as it reads)."""
    with db.write() as session:
        session.execute(
            update(ReconcileRun)
            .where(ReconcileRun.id == run_id, ReconcileRun.finished_at.is_(None))
            .values(lease_expires_at=now + LEASE)
        )


@dataclass(frozen=True)
class RunResult:
    """What a finished run stores."""

    compared: int
    accuracy_percent: float | None
    drift: Mapping[str, int]
    calls_estimated: int
    calls_made: int
    slice_cursor: int | None = None
    error: str | None = None


def finish(db: Database, run_id: int, result: RunResult, *, now: datetime) -> None:
    """Store a run's result and release the lock."""
    with db.write() as session:
        row = session.get(ReconcileRun, run_id)
        if row is None:
            return
        row.finished_at = now
        row.status = FAILED if result.error else DONE
        row.compared = result.compared
        row.accuracy_percent = result.accuracy_percent
        row.drift = dict(result.drift)
        row.calls_estimated = result.calls_estimated
        row.calls_made = result.calls_made
        row.slice_cursor = result.slice_cursor
        row.error = result.error


def last_survey(db: Database) -> ReconcileRun | None:
    """Return the newest full or incremental run that finished well, detached, or None."""
    with db.read() as session:
        row = session.scalar(
            select(ReconcileRun)
            .where(ReconcileRun.status == DONE, ReconcileRun.mode != "targeted")
            .order_by(ReconcileRun.id.desc())
            .limit(1)
        )
        if row is not None:
            session.expunge(row)
        return row
