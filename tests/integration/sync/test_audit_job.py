"""The worker's scheduled job keeps the audit chain up with the SCIM writes (docs/audit.md)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from scim_bridge.directory.db import Database
from scim_bridge.directory.models import AuditRecord
from scim_bridge.monitor.audit import verify
from scim_bridge.sync.worker import Worker


def chained(database: Database) -> list[tuple[int | None, str | None]]:
    with database.read() as session:
        return [
            (seq, digest)
            for seq, digest in session.execute(select(AuditRecord.seq, AuditRecord.hash))
        ]


def test_the_worker_chains_what_scim_writes_committed(
    scim: Any, worker: Worker, database: Database
) -> None:
    for name in ("ada", "grace"):
        body = {"userName": f"{name}@example.com", "displayName": name.title()}
        assert scim.post("/Users", body).status == "201 CREATED"
    assert [seq for seq, _ in chained(database)] == [None, None]  # writers only insert

    assert worker.chain_audit() == 2
    assert sorted(seq for seq, _ in chained(database)) == [1, 2]
    assert all(digest for _, digest in chained(database))
    assert worker.chain_audit() == 0  # nothing new: nothing re-chained
    first = scim.get("/Users").json["Resources"][0]["id"]
    assert scim.delete(f"/Users/{first}").status == "204 NO CONTENT"
    assert worker.chain_audit() == 1
    with database.read() as session:
        verdict = verify(session)
    assert verdict.intact and verdict.records == 3
