"""Retention of the audit trail: prune records older than the configured days (default 400).

Only a prefix of the chain is pruned: the records from the start up to the last one older
than the cutoff *whose predecessors are all older too* (the chain is in commit order, not
quite time order). The last pruned record's position and hash become the retained start
(``audit_chain.RETAINED_START``): ``audit verify`` starts there, expecting the first retained
record to follow that hash, and the checkpoints after it still catch a truncation. The worker
runs it daily (``audit-retention``); docs/audit.md.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from scim_bridge.directory.bridge_state import store
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import AuditCheckpoint, AuditRecord
from scim_bridge.monitor.audit_chain import RETAINED_START, chain_pending, retained_start

log = logging.getLogger("scim_bridge.audit")


def _last_expired(session: Session, cutoff: datetime, start: int) -> tuple[int, str] | None:
    """Return the position and hash of the last record of the expired prefix, or None."""
    first_kept = session.scalar(
        select(func.min(AuditRecord.seq)).where(
            AuditRecord.seq.is_not(None), AuditRecord.seq > start, AuditRecord.at >= cutoff
        )
    )
    bound = select(AuditRecord.seq, AuditRecord.hash).where(
        AuditRecord.seq.is_not(None), AuditRecord.seq > start
    )
    if first_kept is not None:
        bound = bound.where(AuditRecord.seq < first_kept)
    found = session.execute(bound.order_by(AuditRecord.seq.desc()).limit(1)).first()
    if found is None or found[0] is None:
        return None
    return int(found[0]), str(found[1])


def prune_expired(database: Database, *, now: datetime, keep: timedelta) -> int:
    """Delete the chained records older than ``now - keep`` (a prefix of the chain), move the
    retained start past them, and return how many went."""
    chain_pending(database, now=now)  # everything committed is in the chain before pruning
    cutoff = now - keep
    with database.write() as session:
        start, _ = retained_start(session)
        last = _last_expired(session, cutoff, start)
        if last is None:
            return 0
        seq, hash_ = last
        gone = session.scalar(
            select(func.count()).where(AuditRecord.seq.is_not(None), AuditRecord.seq <= seq)
        )
        session.execute(
            delete(AuditRecord).where(AuditRecord.seq.is_not(None), AuditRecord.seq <= seq)
        )
        session.execute(delete(AuditCheckpoint).where(AuditCheckpoint.seq <= seq))
        value = {"seq": seq, "hash": hash_, "cutoff": cutoff.isoformat()}
        store(session, RETAINED_START, value, now=now)
    log.info("audit retention: pruned %d record(s) up to chain position %d", gone, seq)
    return int(gone or 0)


def retention_job(database: Database, *, now: datetime, days: int) -> int:
    """The worker's daily job: prune, and say in the log if it failed (the next run retries)."""
    try:
        return prune_expired(database, now=now, keep=timedelta(days=days))
    except Exception:  # pruning late is harmless; a crashed scheduler thread is not
        log.exception("pruning the audit trail failed; the next run tries again")
        return 0
