"""The audit chain: the sequencer links records, `audit verify` names the first bad one
after any tampering, and `audit export` streams a time range as CSV or JSON Lines."""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from audit_support import Client, new_token, records
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.orm import Session

from scim_bridge.app import create_app
from scim_bridge.cli import main
from scim_bridge.directory import audit
from scim_bridge.directory.db import Database
from scim_bridge.directory.rows import Context
from scim_bridge.directory.tokens import Principal
from scim_bridge.monitor.audit import verify
from scim_bridge.monitor.audit_chain import GENESIS, chain_batch, chain_pending
from scim_bridge.settings import Settings

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
FIX_WORDS = "restore audit_records from a backup"


def cli(db_url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env={"SCIM_BRIDGE_DATABASE_URL": db_url})
    return result.exit_code, result.output


def write_records(database: Database, count: int, *, start: datetime = T0) -> None:
    """Append ``count`` records, one a minute from ``start``, as a SCIM write would."""
    principal = Principal(token_id=1, name="okta", idp="okta", profile="okta")
    for i in range(count):
        ctx = Context(principal=principal, now=start + timedelta(minutes=i), request_id=f"r{i}")
        with database.transaction() as cur:
            audit.record_change(
                cur,
                ctx,
                resource_type="User",
                resource_id=f"user-{i}",
                operation="PATCH",
                status=200,
                changes={"title": [None, f"title {i}"]},
            )


@pytest.fixture
def chained(database: Database) -> Database:
    """Five records, chained (one checkpoint at position 5)."""
    write_records(database, 5)
    assert chain_pending(database, now=T0) == 5
    return database


def sql(database: Database, statement: str, **params: Any) -> None:
    with database.write() as session:
        session.execute(text(statement), params)


def test_the_sequencer_links_each_record_to_the_one_before(chained: Database) -> None:
    found = records(chained)
    assert [r["seq"] for r in found] == [1, 2, 3, 4, 5]
    with chained.read() as session:
        links = session.execute(
            text("SELECT prev_hash, hash FROM audit_records ORDER BY seq")
        ).all()
    assert links[0][0] == GENESIS
    assert all(links[i][0] == links[i - 1][1] for i in range(1, 5))


def test_records_written_later_extend_the_chain(chained: Database) -> None:
    write_records(chained, 2, start=T0 + timedelta(hours=1))
    assert chain_pending(chained, now=T0) == 2
    with chained.read() as session:
        verdict = verify(session)
    assert verdict.intact and verdict.records == 7 and verdict.checkpoints == 2


def test_verify_reports_an_intact_chain_with_a_summary(db_url: str, chained: Database) -> None:
    write_records(chained, 1, start=T0 + timedelta(hours=1))  # unchained: verify chains it
    code, out = cli(db_url, "audit", "verify")
    assert code == 0, out
    assert "intact: 6 record(s), 2 checkpoint(s), head at position 6" in out


def test_every_scim_write_is_in_a_chain_that_verifies(db_url: str, database: Database) -> None:
    scim = Client(create_app(Settings(database_url=db_url), db=database), new_token(database))
    uid = scim.send("POST", "/Users", {"userName": "ada@example.com"}).json["id"]
    scim.send("PUT", "/Users/" + uid, {"userName": "ada@example.com", "title": "CTO"})
    scim.send("DELETE", "/Users/" + uid)
    code, out = cli(db_url, "audit", "verify")
    assert code == 0 and "3 record(s)" in out, out


def broken(db_url: str) -> str:
    code, out = cli(db_url, "audit", "verify")
    assert code == 1, out
    lines = out.strip().splitlines()
    assert len(lines) == 1 and FIX_WORDS in lines[0], out
    return lines[0]


def record_id(database: Database, seq: int) -> int:
    with database.read() as session:
        found = session.scalar(text("SELECT id FROM audit_records WHERE seq = :s"), {"s": seq})
        return int(found)


def test_verify_names_a_record_whose_payload_was_edited_by_one_byte(
    db_url: str, chained: Database
) -> None:
    target = record_id(chained, 3)
    sql(
        chained,
        "UPDATE audit_records SET detail = replace(detail, 'title 2', 'title 3') WHERE seq = 3",
    )
    assert f"record {target} (chain position 3) was edited" in broken(db_url)


def test_verify_names_the_position_of_a_deleted_record(db_url: str, chained: Database) -> None:
    after = record_id(chained, 4)
    sql(chained, "DELETE FROM audit_records WHERE seq = 3")
    line = broken(db_url)
    assert "chain position 3 is missing: a record was deleted" in line
    assert f"record {after} at position 4" in line


def test_verify_names_the_first_of_two_swapped_records(db_url: str, chained: Database) -> None:
    second, third = record_id(chained, 2), record_id(chained, 3)
    move = "UPDATE audit_records SET seq = :seq WHERE id = :id"
    sql(chained, move, seq=-1, id=second)
    sql(chained, move, seq=2, id=third)
    sql(chained, move, seq=3, id=second)
    line = broken(db_url)
    assert f"record {third} (chain position 2) does not follow the record before it" in line


def test_verify_catches_records_truncated_after_a_checkpoint(
    db_url: str, chained: Database
) -> None:
    sql(chained, "DELETE FROM audit_records WHERE seq >= 4")
    line = broken(db_url)
    assert "chain position 4 is missing: the chain ends at position 3" in line
    assert "checkpoint says it reached position 5" in line


def test_verify_catches_a_chain_rewritten_up_to_a_checkpoint(
    db_url: str, chained: Database
) -> None:
    # Rewriting the last record and its hash consistently still contradicts the checkpoint.
    from scim_bridge.directory.models import AuditRecord
    from scim_bridge.monitor.audit_chain import detail_digest, link_hash

    with chained.write() as session:
        last = session.query(AuditRecord).filter(AuditRecord.seq == 5).one()
        last.detail = last.detail.replace("title 4", "title X")
        last.detail_hash = detail_digest(last.detail)
        last.hash = link_hash(str(last.prev_hash), last)
    assert "differs from the checkpoint" in broken(db_url)


def test_sequencers_in_parallel_build_one_gapless_chain(db_url: str, database: Database) -> None:
    write_records(database, 30)
    done: list[int] = []
    start = threading.Barrier(3)

    def sequence() -> None:
        own = Database(db_url)
        try:
            start.wait()
            done.append(chain_pending(own, now=T0, batch=7))
        finally:
            own.dispose()

    threads = [threading.Thread(target=sequence) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(done) == 30
    assert sorted(r["seq"] for r in records(database)) == list(range(1, 31))
    with database.read() as session:
        assert verify(session).intact


class ChainedMeanwhile(Database):
    """A sequencer's database on which another process chains part of the backlog between
    its read (the batch, hashed outside the writer's turn) and its write transaction."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.raced = False

    @contextmanager
    def write(self) -> Iterator[Session]:
        if not self.raced:
            self.raced = True
            other = Database(self.url)
            try:
                with other.write() as session:  # another's first batch
                    assert chain_batch(session, now=T0, limit=3) == 3
            finally:
                other.dispose()
        with super().write() as session:
            yield session


def test_a_batch_another_sequencer_chained_while_it_was_hashed_is_chained_once(
    db_url: str, database: Database
) -> None:
    write_records(database, 10)
    racing = ChainedMeanwhile(db_url)
    try:
        assert chain_pending(racing, now=T0, batch=3) == 7
    finally:
        racing.dispose()
    assert racing.raced
    assert sorted(r["seq"] for r in records(database)) == list(range(1, 11))
    with database.read() as session:
        assert verify(session).intact


def export(db_url: str, *args: str) -> str:
    code, out = cli(db_url, "audit", "export", *args)
    assert code == 0, out
    return out


def test_export_streams_the_time_range_as_jsonl(db_url: str, database: Database) -> None:
    write_records(database, 2500)  # more than one streamed batch
    out = export(db_url, "--since", "2026-12-01T10:00:00", "--until", "2026-12-02")
    rows = [json.loads(line) for line in out.splitlines()]
    # 09:00 + i minutes for i in 0..2499; from 10:00 (i = 60) to the next day (i < 900).
    assert [r["resource_id"] for r in rows] == [f"user-{i}" for i in range(60, 900)]
    assert rows[0]["detail"] == {"changes": {"title": [None, "title 60"]}}
    assert rows[0]["at"] == "2026-12-01T10:00:00.000000Z"
    assert all(r["hash"] and r["seq"] for r in rows)  # chained before the export


def test_export_writes_csv_to_a_private_file(
    db_url: str, database: Database, tmp_path: Any
) -> None:
    write_records(database, 10)
    target = tmp_path / "audit.csv"
    export(db_url, "--format", "csv", "--output", str(target), "--since", "2026-12-01T09:05:00")
    assert target.stat().st_mode & 0o077 == 0
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert [r["resource_id"] for r in rows] == [f"user-{i}" for i in range(5, 10)]
    assert json.loads(rows[0]["detail"]) == {"changes": {"title": [None, "title 5"]}}


def test_export_refuses_a_range_that_ends_before_it_starts(db_url: str) -> None:
    code, out = cli(db_url, "audit", "export", "--since", "2026-12-02", "--until", "2026-12-01")
    assert code == 2 and "--until" in out and "later than --since" in out
