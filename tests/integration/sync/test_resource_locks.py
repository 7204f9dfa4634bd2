"""One translation of a resource at a time across workers (issue 14, sync/resource_locks.py).

A lease can lapse under work still in progress; the second worker that claims the row must
not translate the same person at once. PostgreSQL holds the lock; SQLite (one host, and a
loop that never claims its own in-flight rows) needs none.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from scim_bridge.bootstrap import build_worker
from scim_bridge.dingtalk.emulator import RunningEmulator
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import OutboxEntry
from scim_bridge.settings import Settings
from scim_bridge.sync.resource_locks import translating
from scim_bridge.sync.worker import WorkerConfig


class Clock:
    """A clock the test moves."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_a_resource_being_translated_elsewhere_is_not_translated_twice(
    db_url: str, database: Database
) -> None:
    other = Database(db_url)  # another worker process's pool
    try:
        with translating(database, "User", "u1") as first:
            assert first is True
            with translating(other, "User", "u1") as second:
                assert second is (database.dialect != "postgresql")
            with translating(other, "User", "u2") as unrelated:
                assert unrelated is True
        with translating(other, "User", "u1") as after:
            assert after is True  # released with the block
    finally:
        other.dispose()


def test_the_worker_postpones_a_person_another_worker_still_translates(
    settings: Settings,
    db_url: str,
    database: Database,
    scim: Any,
    emulator: RunningEmulator,
    worker: Any,
) -> None:
    body = {
        "userName": "grace@example.com",
        "externalId": "grace",
        "displayName": "Grace Hopper",
        "phoneNumbers": [{"value": "13800000002", "type": "mobile"}],
    }
    user_id = scim.post("/Users", body).json["id"]
    clock = Clock(datetime.now(UTC))
    second = build_worker(
        settings,
        database,
        client=worker.translator.client,
        config=WorkerConfig(threads=1),
        clock=clock,
    )
    elsewhere = Database(db_url)
    try:
        with translating(elsewhere, "User", user_id):
            second.run_until_idle(timeout=30)
        with database.read() as session:
            row = session.scalar(select(OutboxEntry).where(OutboxEntry.resource_id == user_id))
        if database.dialect == "postgresql":
            assert row is not None and row.attempts == 0  # postponed, no attempt spent
            assert "grace" not in emulator.emulator.users()
        clock.now += timedelta(seconds=2)  # due again; the other worker has let go
        second.run_until_idle(timeout=30)
        assert "grace" in emulator.emulator.users()
    finally:
        elsewhere.dispose()
