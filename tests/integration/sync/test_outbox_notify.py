"""On PostgreSQL a transaction that writes outbox rows wakes every listening worker when it
commits, and only then: one change (its upsert and NOTIFY are one statement) or several."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scim_bridge.directory.db import Database
from scim_bridge.directory.models import OutboxEntry
from scim_bridge.directory.outbox import Lane, mark_changed_on
from scim_bridge.sync.wakeup import PostgresListener, Wakeup

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


class Boom(Exception):
    pass


@pytest.mark.parametrize("ids", [["u1"], ["u1", "u2", "u3"]], ids=["one change", "several"])
def test_a_commit_wakes_listeners_and_a_rollback_does_not(
    db_url: str, database: Database, ids: list[str]
) -> None:
    if database.dialect != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's (SQLite wakes workers on this host)")
    wakeup = Wakeup()
    listener = PostgresListener(db_url, wakeup)
    try:
        # The listener connects in its own thread: wait until a notification gets through.
        for _ in range(100):
            with database.transaction() as cur:
                mark_changed_on(cur, "User", ["warm-up"], actor="t", now=NOW, lane=Lane.BULK)
            if wakeup.wait(timeout=0.1):
                break
        else:
            pytest.fail("the listener never heard a commit")
        wakeup.wait(timeout=0.5)  # a warm-up commit's notification may still be on its way
        with pytest.raises(Boom), database.transaction() as cur:
            mark_changed_on(cur, "User", ids, actor="t", now=NOW, lane=Lane.UPDATE)
            raise Boom
        assert not wakeup.wait(timeout=1.0)  # rolled back: nothing to do, nobody woken
        with database.transaction() as cur:
            mark_changed_on(cur, "User", ids, actor="t", now=NOW, lane=Lane.UPDATE)
            assert not wakeup.wait(timeout=0.5)  # not before the commit
        assert wakeup.wait(timeout=10)
    finally:
        listener.close()
    with database.read() as session:
        stored = {row.resource_id: row.lane for row in session.query(OutboxEntry)}
    assert stored == {"warm-up": int(Lane.BULK), **dict.fromkeys(ids, int(Lane.UPDATE))}
