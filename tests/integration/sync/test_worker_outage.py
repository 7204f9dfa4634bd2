"""The worker's loop outlives its database going away (issue 14: PostgreSQL restarted mid-run).

The loop used to end on the first failed outbox read, leaving a live process that translated
nothing. SQLite and PostgreSQL, the emulator over HTTP.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from worker_threads import running

from scim_bridge.bootstrap import build_worker
from scim_bridge.dingtalk.emulator import RunningEmulator
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import OutboxEntry
from scim_bridge.directory.outbox import Lane, mark_changed
from scim_bridge.directory.prepared import Cursor
from scim_bridge.settings import Settings
from scim_bridge.sync.claims import claim_batch
from scim_bridge.sync.worker import WorkerConfig

LOOP = "translator-under-test"


class RestartingDatabase(Database):
    """A database whose next ``failures`` write transactions on the loop's thread fail, as
    they do while PostgreSQL restarts (other threads are served, so the count is the loop's)."""

    def __init__(self, url: str, *, failures: int) -> None:
        super().__init__(url)
        self.failures = failures

    def _restarting(self) -> None:
        if threading.current_thread().name == LOOP and self.failures > 0:
            self.failures -= 1
            raise OperationalError("BEGIN", {}, ConnectionError("the database is restarting"))

    @contextmanager
    def write(self) -> Iterator[Session]:
        """Fail on the loop's thread while failures remain; else the real transaction."""
        self._restarting()
        with super().write() as session:
            yield session

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """The same for the prepared statements' transactions (the loop claims with one)."""
        self._restarting()
        with super().transaction() as cur:
            yield cur


def pending(database: Database) -> int:
    with database.read() as session:
        return int(session.scalar(select(func.count()).select_from(OutboxEntry)) or 0)


def test_the_loop_keeps_translating_after_failed_outbox_reads(
    settings: Settings,
    db_url: str,
    database: Database,
    scim: Any,
    emulator: RunningEmulator,
    worker: Any,
) -> None:
    body = {
        "userName": "ada@example.com",
        "externalId": "ada",
        "displayName": "Ada Lovelace",
        "phoneNumbers": [{"value": "13800000001", "type": "mobile"}],
    }
    assert scim.post("/Users", body).status_code == 201
    restarting = RestartingDatabase(db_url, failures=3)
    looping = build_worker(
        settings,
        restarting,
        client=worker.translator.client,
        config=WorkerConfig(threads=1, idle_poll=0.05),
    )
    try:
        # Disposed once the loop and its scheduler's jobs have ended (worker_threads.py).
        with running(looping, name=LOOP) as thread:
            deadline = time.monotonic() + 60
            while pending(database) and time.monotonic() < deadline and thread.is_alive():
                time.sleep(0.05)
            assert restarting.failures == 0  # every failure met the loop
            assert pending(database) == 0
            assert thread.is_alive()  # still looping, not ended by the first failure
            assert "ada" in emulator.emulator.users()
    finally:
        restarting.dispose()


def test_a_row_still_in_flight_is_not_claimed_again_when_its_lease_lapsed(
    database: Database,
) -> None:
    """A heartbeat that could not reach the database lets a lease lapse under work in progress;
    the loop must not hand the same resource to a second thread of its own."""
    t0 = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)
    with database.write() as session:
        mark_changed(session, "User", ["u1"], actor=None, now=t0, lane=Lane.UPDATE)
    lease = timedelta(seconds=6)
    with database.write() as session:
        (claim,) = claim_batch(session, owner="w", now=t0, limit=5, lease=lease)
    later = t0 + timedelta(seconds=30)  # the lease lapsed; the thread still translates
    with database.write() as session:
        again = claim_batch(session, owner="w", now=later, limit=5, lease=lease, exclude=[claim.id])
        assert again == []
    with database.write() as session:  # another process may take it (its owner may be dead)
        (taken,) = claim_batch(session, owner="other", now=later, limit=5, lease=lease)
    assert taken.id == claim.id
