"""The audit trail's chain: the sequencer that links committed records, and the hash rule.

SCIM writers insert records unchained (``directory/audit.py``), so no write waits for another
to extend a chain. The sequencer runs alone (a PostgreSQL advisory lock; SQLite's one writer)
and gives each new record, in id order, its place ``seq``, the hash of the record before it
(``prev_hash``) and its own ``hash = SHA-256(prev_hash + canonical JSON of its content)``;
each run ends with a checkpoint of the chain head. Why this design: docs/audit.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, text, update
from sqlalchemy.orm import Session

from scim_bridge.directory.audit import RECORD_COLUMNS, canonical
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import AuditCheckpoint, AuditRecord, BridgeState

#: The ``prev_hash`` of the first record.
GENESIS = "0" * 64
#: bridge_state key of the retained chain's start (position and hash of the last pruned record).
RETAINED_START = "audit.retained_start"
#: Records chained per transaction (each transaction ends with a checkpoint).
BATCH = 1000
#: pg_advisory_xact_lock key of the sequencer: "scimaudt" as a 64-bit integer.
_LOCK_KEY = int.from_bytes(b"scimaudt", "big") & 0x7FFF_FFFF_FFFF_FFFF


def stamp(at: datetime) -> str:
    """Return a record's time as the chain hashes it: UTC, ISO 8601, microseconds."""
    # SQLite hands timezone-aware columns back naive (in UTC, as they were written).
    moment = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    if moment.year < 1000:  # strftime leaves such a year unpadded here (glibc): keep its text
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    # The same text as strftime("%Y-%m-%dT%H:%M:%S.%fZ"), without its per-call parsing: the
    # sequencer stamps every record (bench/instructions.py).
    return (
        f"{moment.year}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
        f"{moment.minute:02d}:{moment.second:02d}.{moment.microsecond:06d}Z"
    )


def detail_digest(detail: str) -> str:
    """Return the SHA-256 of a record's detail text, hex (what the chain hashes for it)."""
    return hashlib.sha256(detail.encode("utf-8")).hexdigest()


#: The columns a writer fills that the hash covers, besides id, seq and the detail.
_CONTENT_COLUMNS = tuple(column for column in RECORD_COLUMNS if column != "detail")


def content(record: AuditRecord) -> dict[str, Any]:
    """Return what a record's hash covers: every column but the hashes themselves.

    A record chained since migration 0010 is hashed with its detail's digest in place of the
    detail, so an erased payload (docs/audit.md) still verifies; its own key
    (``detail_sha256``) keeps the two rules from ever giving the same input."""
    return _content(
        record.id,
        record.seq,
        record.detail,
        record.detail_hash,
        *(getattr(record, name) for name in _CONTENT_COLUMNS),
    )


def _content(
    id_: int,
    seq: int | None,
    detail: str,
    detail_hash: str | None,
    at: datetime,
    actor: str,
    idp: str,
    request_id: str,
    client: str | None,
    resource_type: str,
    resource_id: str | None,
    operation: str,
    status: int,
) -> dict[str, Any]:
    """``content`` from the columns themselves (the sequencer reads rows, not entities)."""
    out = {
        "id": id_,
        "seq": seq,
        "at": stamp(at),
        "actor": actor,
        "idp": idp,
        "request_id": request_id,
        "client": client,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "operation": operation,
        "status": status,
    }
    if detail_hash is None:
        out["detail"] = detail
    else:
        out["detail_sha256"] = detail_hash
    return out


#: JSON's string quoting, exactly as ``canonical`` (ensure_ascii=False) quotes.
_quote = json.encoder.encode_basestring


def _maybe(text: str | None) -> str:
    return "null" if text is None else _quote(text)


def chained_text(
    id_: int,
    seq: int,
    detail_hash: str,
    at: datetime,
    actor: str,
    idp: str,
    request_id: str,
    client: str | None,
    resource_type: str,
    resource_id: str | None,
    operation: str,
    status: int,
) -> str:
    """Return ``canonical(content)`` of a record chained with its detail's digest, written
    out directly: the same text (keys in sorted order, the same quoting), without building
    and sorting a dict for every record the sequencer chains (bench/instructions.py)."""
    return (
        f'{{"actor":{_quote(actor)},"at":"{stamp(at)}","client":{_maybe(client)},'
        f'"detail_sha256":"{detail_hash}","id":{int(id_)},"idp":{_quote(idp)},'
        f'"operation":{_quote(operation)},"request_id":{_quote(request_id)},'
        f'"resource_id":{_maybe(resource_id)},"resource_type":{_quote(resource_type)},'
        f'"seq":{int(seq)},"status":{int(status)}}}'
    )


def link_hash(prev_hash: str, record: AuditRecord) -> str:
    """Return SHA-256(prev_hash + canonical JSON of the record's content), hex."""
    return _link(prev_hash, content(record))


def _link(prev_hash: str, covered: dict[str, Any]) -> str:
    return _sha256_text(prev_hash + canonical(covered))


def _sha256_text(payload: str) -> str:
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _lock(session: Session) -> None:
    """Take the sequencer's turn for this transaction (released at commit or rollback)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    # SQLite: Database.write() began with BEGIN IMMEDIATE: this is the only writer.


def retained_start(session: Session) -> tuple[int, str]:
    """Return where the retained chain starts: the position and hash of the last record
    retention pruned (``monitor/audit_retention.py``), or (0, GENESIS) before any pruning."""
    row = session.get(BridgeState, RETAINED_START)
    if row is None:
        return 0, GENESIS
    return int(row.value["seq"]), str(row.value["hash"])


def _head(session: Session) -> tuple[int, str]:
    found = session.execute(
        select(AuditRecord.seq, AuditRecord.hash)
        .where(AuditRecord.seq.is_not(None))
        .order_by(AuditRecord.seq.desc())
        .limit(1)
    ).first()
    if found is None or found[0] is None or found[1] is None:
        return retained_start(session)  # everything chained may have been pruned
    return int(found[0]), str(found[1])


#: The unchained records' columns the chain covers, oldest first (Core rows, not ORM objects:
#: the sequencer runs for every record, and loading, tracking and flushing entities cost it
#: more than hashing them; bench/instructions.py counts it).
_TABLE = cast(Table, AuditRecord.__table__)
_PENDING = (
    select(*(_TABLE.c[name] for name in ("id", "detail", *_CONTENT_COLUMNS)))
    .where(AuditRecord.seq.is_(None))
    .order_by(AuditRecord.id)
    .limit(bindparam("limit"))
)
#: One statement for the whole batch, run as executemany.
_LINK = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("b_id"))
    .values(
        seq=bindparam("b_seq"),
        prev_hash=bindparam("b_prev"),
        hash=bindparam("b_hash"),
        detail_hash=bindparam("b_detail_hash"),
    )
)


def _links(seq: int, prev: str, rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    """Hash unchained rows (``_PENDING``'s) onto the chain whose head is (seq, prev)."""
    links = []
    for id_, detail, *columns in rows:
        seq += 1
        digest = detail_digest(detail)
        text = chained_text(id_, seq, digest, *columns)
        prev_hash, prev = prev, _sha256_text(prev + text)
        links.append(
            {
                "b_id": id_,
                "b_seq": seq,
                "b_prev": prev_hash,
                "b_hash": prev,
                "b_detail_hash": digest,
            }
        )
    return links


def _append(session: Session, links: list[dict[str, Any]], *, now: datetime) -> None:
    if links:
        session.execute(_LINK, links)
        last = links[-1]
        session.add(AuditCheckpoint(seq=last["b_seq"], hash=last["b_hash"], at=now))


def chain_batch(session: Session, *, now: datetime, limit: int = BATCH) -> int:
    """Chain up to ``limit`` unchained records in id order, then checkpoint; return how many."""
    _lock(session)
    seq, prev = _head(session)
    links = _links(seq, prev, session.execute(_PENDING, {"limit": limit}))
    _append(session, links, now=now)
    return len(links)


def _chain_next(database: Database, *, now: datetime, limit: int) -> int:
    """Chain the next batch; hash it before the write transaction when nobody else chains.

    Issue 14: hashing a batch of 1,000 took some 25 ms of CPU, inside the write transaction
    and so inside SQLite's writer's turn, in the worker at nice 10: the API's writes waited
    60-130 ms behind it every 5 s under load. Records are immutable once committed (an
    erasure replaces a payload, and the chain keeps the digest of what it held), so the batch
    is read and hashed first, and the write only checks that the head is where it was."""
    with database.read() as session:
        head = _head(session)
        links = _links(*head, session.execute(_PENDING, {"limit": limit}))
    if not links:
        return 0
    with database.write() as session:
        _lock(session)
        if _head(session) != head:  # another process chained meanwhile: do it in the turn
            return chain_batch(session, now=now, limit=limit)
        _append(session, links, now=now)
    return len(links)


def chain_pending(database: Database, *, now: datetime, batch: int = BATCH) -> int:
    """Chain every committed unchained record (the worker's scheduler calls this, and
    ``audit verify``/``export`` first); safe to run in several processes at once."""
    total = 0
    while True:
        done = _chain_next(database, now=now, limit=batch)
        total += done
        if done < batch:
            return total
