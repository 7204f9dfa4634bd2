"""Counting DingTalk calls per UTC minute in memory, and adding them to the database (issue 12).

The DingTalk client tells a ``CallObserver`` about every HTTP request (dingtalk/client.py);
``AvailabilityRecorder`` is one, kept by each process that talks to DingTalk. It only counts
under a lock (no I/O on the caller's thread); the worker's flush job adds the counts into the
``availability_minutes`` rows every ``sla_flush_seconds``. Additive upserts let several
processes add into one minute without double counting, and each batch carries an id recorded
in the same transaction, so a flush retried after an unclear commit adds nothing twice.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from scim_bridge.directory.db import Database
from scim_bridge.directory.models import (
    AvailabilityFailure,
    AvailabilityFlush,
    AvailabilityMinute,
    SyncLagMinute,
)
from scim_bridge.monitor.availability import floor_minute
from scim_bridge.monitor.metrics import LAG_BUCKETS

#: The client's outcome (dingtalk/client.py OUTCOMES, plus "ok") -> the minute's column.
#: "failed" (Retry.NEVER: our 4xx, permanent errcodes) and "auth" (our credentials) are ours.
COLUMN = {
    "ok": "ok",
    "transient": "transient",
    "failed": "rejected",
    "auth": "rejected",
    "throttled": "throttled",
    "banned": "banned",
}
CALL_COLUMNS = ("ok", "transient", "rejected", "throttled", "banned")
PROBE_COLUMNS = ("probe_ok", "probe_failed", "probe_refused")
COUNTS = CALL_COLUMNS + PROBE_COLUMNS
#: The sync-lag buckets of the report: the /metrics histogram's, and "+Inf" as 1e9 seconds.
LAG_BOUNDS = tuple(float(b) for b in LAG_BUCKETS)
INF = 1e9
#: Batch ids are kept this long: a retry comes seconds later, never a day.
FLUSH_MEMORY = timedelta(days=1)


@dataclass
class Batch:
    """Counts taken from memory and not yet known to be in the database."""

    batch_id: str
    minutes: defaultdict[datetime, Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    failures: Counter[tuple[datetime, str, str]] = field(default_factory=Counter)
    lags: Counter[tuple[datetime, float]] = field(default_factory=Counter)

    def __bool__(self) -> bool:
        return bool(self.minutes or self.failures or self.lags)


class AvailabilityRecorder:
    """Counts this process's DingTalk calls per UTC minute (a CallObserver), until flushed."""

    def __init__(self, *, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._current = self._fresh()
        self._pending: Batch | None = None

    @staticmethod
    def _fresh() -> Batch:
        return Batch(uuid.uuid4().hex)

    def _minute(self) -> datetime:
        now = self._clock()
        if now.tzinfo is UTC:  # the usual clock: skip the conversion (every call pays this)
            return now.replace(second=0, microsecond=0)
        return floor_minute(now)

    def call_finished(self, api: str, outcome: str, seconds: float) -> None:
        """Count one HTTP request to DingTalk in the minute it ended."""
        column = COLUMN.get(outcome, "rejected")
        minute = self._minute()
        with self._lock:
            self._current.minutes[minute][column] += 1
            if column == "transient":
                self._current.failures[(minute, api[:128], outcome)] += 1

    def token_fetched(self, ok: bool) -> None:
        """Nothing to add: the token request itself was counted by call_finished."""

    def probe_finished(self, outcome: str, *, api: str, code: str = "") -> None:
        """Count the probe's verdict: "ok", "failed" (DingTalk-side) or "refused" (ours)."""
        minute = self._minute()
        with self._lock:
            self._current.minutes[minute][f"probe_{outcome}"] += 1
            if outcome == "failed" and code:
                self._current.failures[(minute, api[:128], code[:64])] += 1

    def observe_lag(self, seconds: float) -> None:
        """Count one change DingTalk acknowledged, ``seconds`` after its first unapplied commit."""
        le = next((bound for bound in LAG_BOUNDS if seconds <= bound), INF)
        minute = self._minute()
        with self._lock:
            self._current.lags[(minute, le)] += 1

    def take(self) -> Batch:
        """Return the batch to write: the one a failed flush left, else what was counted since."""
        with self._lock:
            if self._pending is None:
                self._pending, self._current = self._current, self._fresh()
            return self._pending

    def written(self, batch: Batch) -> None:
        """Forget a batch the database now holds."""
        with self._lock:
            if self._pending is batch:
                self._pending = None

    def flush(self, db: Database, *, now: datetime, down_ratio: float) -> bool:
        """Add the counted calls to the minute rows; True if a batch was written."""
        batch = self.take()
        if not batch:
            self.written(batch)
            return False
        with db.write() as session:
            add_batch(session, batch, now=now, down_ratio=down_ratio)
        self.written(batch)  # only after the commit: a failed one is retried as the same batch
        return True


def _insert(session: Session, model: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return pg_insert(model) if dialect == "postgresql" else sqlite_insert(model)


def add_batch(session: Session, batch: Batch, *, now: datetime, down_ratio: float) -> bool:
    """Add a batch's counts into the minute rows, once per batch id; False if already added."""
    seen = _insert(session, AvailabilityFlush).values(batch_id=batch.batch_id, flushed_at=now)
    # RETURNING, not rowcount: a conflict returns no row on both databases (psycopg's rowcount
    # for INSERT .. ON CONFLICT DO NOTHING is not dependable through every execution path).
    stmt = seen.on_conflict_do_nothing().returning(AvailabilityFlush.batch_id)
    if session.execute(stmt).first() is None:
        return False
    if batch.minutes:
        rows = [_minute_row(minute, counts, down_ratio) for minute, counts in batch.minutes.items()]
        stmt = _insert(session, AvailabilityMinute).values(rows)
        table = AvailabilityMinute.__table__.c
        added = {name: table[name] + stmt.excluded[name] for name in COUNTS}
        transient = added["transient"]
        calls = sum((added[name] for name in CALL_COLUMNS[1:]), added["ok"])
        # The verdict over every process's counts so far, in the same statement.
        verdict = transient > calls * down_ratio
        stmt = stmt.on_conflict_do_update(
            index_elements=[AvailabilityMinute.minute], set_={**added, "down": verdict}
        )
        session.execute(stmt)
    if batch.failures:
        rows = [
            {"minute": minute, "api": api, "code": code, "count": count}
            for (minute, api, code), count in batch.failures.items()
        ]
        stmt = _insert(session, AvailabilityFailure).values(rows)
        stmt = stmt.on_conflict_do_update(
            index_elements=["minute", "api", "code"],
            set_={"count": AvailabilityFailure.__table__.c.count + stmt.excluded["count"]},
        )
        session.execute(stmt)
    if batch.lags:
        rows = [
            {"minute": minute, "le": le, "count": count}
            for (minute, le), count in batch.lags.items()
        ]
        stmt = _insert(session, SyncLagMinute).values(rows)
        stmt = stmt.on_conflict_do_update(
            index_elements=["minute", "le"],
            set_={"count": SyncLagMinute.__table__.c.count + stmt.excluded["count"]},
        )
        session.execute(stmt)
    return True


def _minute_row(minute: datetime, counts: Counter[str], down_ratio: float) -> dict[str, Any]:
    row: dict[str, Any] = {"minute": minute, **{name: counts.get(name, 0) for name in COUNTS}}
    calls = sum(row[name] for name in CALL_COLUMNS)
    row["down"] = calls > 0 and row["transient"] > calls * down_ratio
    return row


def forget_old_batches(session: Session, *, now: datetime) -> None:
    """Drop batch ids older than a day (a retry comes within seconds)."""
    session.execute(
        delete(AvailabilityFlush).where(AvailabilityFlush.flushed_at < now - FLUSH_MEMORY)
    )


class Fanout:
    """One CallObserver that tells several (the metrics and the availability recorder)."""

    def __init__(self, *observers: Any) -> None:
        self._observers = [o for o in observers if o is not None]

    def call_finished(self, api: str, outcome: str, seconds: float) -> None:
        """Tell each observer about one HTTP request."""
        for observer in self._observers:
            observer.call_finished(api, outcome, seconds)

    def token_fetched(self, ok: bool) -> None:
        """Tell each observer about one token fetch."""
        for observer in self._observers:
            observer.token_fetched(ok)
