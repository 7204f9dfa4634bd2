"""Reading the audit trail: verify the chain, export a time range (docs/audit.md).

Both stream the records (``yield_per``: a server-side cursor on PostgreSQL), so a trail of any
size is read in constant memory, and both are meant to run after the sequencer
(``audit_chain.chain_pending``) so that every committed record is in the chain.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy import ScalarResult, select
from sqlalchemy.orm import Session

from scim_bridge.directory.audit import RECORD_COLUMNS, canonical
from scim_bridge.directory.models import AuditCheckpoint, AuditRecord, ErasureReceipt
from scim_bridge.monitor.audit_chain import detail_digest, link_hash, retained_start, stamp

#: How an erased payload begins (``erased_marker``): a cheap test before parsing.
ERASED_PREFIX = '{"erased":'

#: Rows fetched per round trip while streaming.
STREAM_BATCH = 1000

#: What to do when the chain is broken, in one line.
FIX = (
    "restore audit_records from a backup (or an exported copy) taken after the last good "
    "checkpoint, and find out who could write to the database; then run `scim-bridge audit "
    "verify` again"
)


@dataclass(frozen=True)
class Verdict:
    """The outcome of walking the chain: intact, or the first bad record and what is wrong."""

    records: int
    checkpoints: int
    head_seq: int
    head_hash: str
    problem: str | None = None

    @property
    def intact(self) -> bool:
        """Return whether every record and checkpoint verified."""
        return self.problem is None


@contextmanager
def _stream(session: Session, stmt: Any) -> Iterator[ScalarResult[AuditRecord]]:
    """Stream a query's records; the (server-side) cursor is closed however the reader stops."""
    result = session.scalars(stmt.execution_options(yield_per=STREAM_BATCH))
    try:
        yield result
    finally:
        result.close()


def erased_by(detail: str) -> int | None:
    """Return the receipt id an erased payload names, or None when it is not erased."""
    if not detail.startswith(ERASED_PREFIX):
        return None
    try:
        return int(json.loads(detail)["erased"]["receipt"])
    except (ValueError, KeyError, TypeError):
        return None


def erased_marker(receipt_id: int) -> str:
    """Return the payload an erased record keeps: which erasure receipt replaced it."""
    return canonical({"erased": {"receipt": receipt_id}})


def _check_detail(record: AuditRecord, receipts: set[int]) -> str | None:
    """Return what is wrong with a record's payload against its retained digest, or None."""
    name = f"record {record.id} (chain position {record.seq})"
    if record.detail_hash is None:
        return None  # chained before migration 0010: the detail itself is in the hash
    if detail_digest(record.detail) == record.detail_hash:
        return None
    receipt = erased_by(record.detail)
    if receipt is None:
        return f"{name} was edited: its payload no longer matches its hash"
    if receipt not in receipts:
        return f"{name} claims erasure receipt {receipt}, which does not exist"
    return None  # erased (GDPR/PDPO): the digest of what it held stays in the chain


def _check(
    record: AuditRecord, expected_seq: int, prev: str, receipts: set[int] | None = None
) -> str | None:
    """Return what is wrong with one record in its place in the chain, or None."""
    name = f"record {record.id} (chain position {record.seq})"
    if record.seq != expected_seq:
        return (
            f"chain position {expected_seq} is missing: a record was deleted "
            f"(the next one present is record {record.id} at position {record.seq})"
        )
    if record.prev_hash != prev:
        return f"{name} does not follow the record before it: records were reordered or removed"
    if link_hash(prev, record) != record.hash:
        if record.detail_hash is None and erased_by(record.detail) in (receipts or set()):
            # Chained before migration 0010 (its detail itself hashed), then erased: only its
            # place in the chain can be checked (docs/audit.md, Erasure).
            return None
        return f"{name} was edited: its content no longer matches its hash"
    return _check_detail(record, receipts or set())


def verify(session: Session) -> Verdict:
    """Walk the chain in order and return the first bad record, or a summary when intact."""
    marks = dict(session.execute(select(AuditCheckpoint.seq, AuditCheckpoint.hash)).all())
    receipts = set(session.scalars(select(ErasureReceipt.id)))
    # After retention pruned the oldest records, the chain is verified from where it starts.
    seq, prev = retained_start(session)
    count = 0
    chained = (
        select(AuditRecord)
        .where(AuditRecord.seq.is_not(None), AuditRecord.seq > seq)
        .order_by(AuditRecord.seq)
    )
    with _stream(session, chained) as stream:
        for record in stream:
            problem = _check(record, seq + 1, prev, receipts)
            mark = marks.get(seq + 1)
            if problem is None and mark is not None and mark != record.hash:
                problem = (
                    f"record {record.id} (chain position {record.seq}) differs from the "
                    "checkpoint taken when it was chained: the chain was rewritten"
                )
            if problem is not None:
                return Verdict(count, len(marks), seq, prev, problem)
            seq, prev, count = seq + 1, str(record.hash), count + 1
    last_mark = max(marks, default=0)
    if last_mark > seq:
        problem = (
            f"chain position {seq + 1} is missing: the chain ends at position {seq}, but a "
            f"checkpoint says it reached position {last_mark} (records were truncated)"
        )
        return Verdict(count, len(marks), seq, prev, problem)
    return Verdict(count, len(marks), seq, prev)


#: The columns an export carries, in order (``detail`` is the redacted JSON payload).
EXPORT_COLUMNS = ("id", "seq", *RECORD_COLUMNS, "prev_hash", "hash", "detail_hash")


def _row(record: AuditRecord) -> dict[str, Any]:
    out = {c: getattr(record, c) for c in EXPORT_COLUMNS}
    out["at"] = stamp(record.at)
    return out


def records_between(
    session: Session, *, since: datetime | None, until: datetime | None
) -> Iterator[dict[str, Any]]:
    """Yield the records with since <= at < until, oldest first, streamed."""
    stmt = select(AuditRecord).order_by(AuditRecord.at, AuditRecord.id)
    if since is not None:
        stmt = stmt.where(AuditRecord.at >= since)
    if until is not None:
        stmt = stmt.where(AuditRecord.at < until)
    with _stream(session, stmt) as stream:
        for record in stream:
            yield _row(record)


def write_export(rows: Iterator[dict[str, Any]], out: TextIO, *, fmt: str) -> int:
    """Write rows as CSV (a header, ``detail`` as JSON text) or JSON Lines; return how many."""
    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
        return count
    for row in rows:
        line = {**row, "detail": json.loads(row["detail"])}
        out.write(json.dumps(line, ensure_ascii=False) + "\n")
        count += 1
    return count
