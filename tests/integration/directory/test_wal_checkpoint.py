"""SQLite's WAL is checkpointed after a write gives the writer's turn back, not inside it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

from scim_bridge.directory import wal_checkpoint
from scim_bridge.directory.db import Database, upgrade
from scim_bridge.directory.outbox import Lane, mark_changed_on


def queue_one(db: Database, index: int) -> None:
    with db.transaction() as cur:
        now = datetime.now(UTC)
        mark_changed_on(cur, "User", [f"u{index:05d}"], actor="okta", now=now, lane=Lane.BULK)


def test_writes_are_checkpointed_into_the_database_file_well_before_the_backstop(
    tmp_path: Path,
) -> None:
    path = tmp_path / "wal.db"
    upgrade(f"sqlite:///{path}")
    db = Database(f"sqlite:///{path}")
    try:
        queue_one(db, 0)
        before = path.stat().st_size
        # A few pages each, some 500 in all: below SQLite's own checkpoint (1,000 pages by
        # default, 10,000 on ours), so only the checkpoint after the turn put these rows into
        # the database file itself.
        for index in range(1, wal_checkpoint.EVERY + 1):
            queue_one(db, index)
        assert path.stat().st_size > before
    finally:
        db.dispose()


def test_a_checkpoint_waits_for_no_writer(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    upgrade(f"sqlite:///{path}")
    db = Database(f"sqlite:///{path}")
    holding, release = threading.Event(), threading.Event()

    def hold_the_turn() -> None:
        with db.transaction() as cur:
            mark_changed_on(cur, "User", ["held"], actor="okta", now=datetime.now(UTC), lane=1)
            holding.set()
            release.wait(10)

    writer = threading.Thread(target=hold_the_turn)
    writer.start()
    checkpointer = wal_checkpoint.Checkpointer(str(path))
    try:
        assert holding.wait(10)
        done = threading.Event()

        def checkpoint() -> None:
            checkpointer.checkpoint()
            done.set()

        checkpointing = threading.Thread(target=checkpoint)
        checkpointing.start()
        assert done.wait(5), "the checkpoint waited for the writer holding the turn"
        checkpointing.join()
    finally:
        release.set()
        writer.join(10)
        checkpointer.close()
        db.dispose()
