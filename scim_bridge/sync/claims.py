"""Claiming outbox rows with leases, so any number of workers share them safely."""

from __future__ import annotations

import random
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.orm import Session

from scim_bridge.directory.db import Database
from scim_bridge.directory.models import OutboxEntry
from scim_bridge.directory.outbox import Lane
from scim_bridge.directory.prepared import Cursor, Prepared


@dataclass(frozen=True)
class Claim:
    """One claimed outbox row: which resource, at which change sequence."""

    id: int
    resource_type: str
    resource_id: str
    seq: int
    attempts: int
    actor: str | None
    #: The first change not applied yet (the sync lag runs from it) and when we claimed the row.
    first_changed_at: datetime | None = None
    claimed_at: datetime | None = None
    #: The row's priority lane (directory/outbox.py); the client lets lane 0 jump its queue.
    lane: int = Lane.BULK
    #: Issue 14: the row was taken over from an owner whose lease lapsed (a worker killed, or
    #: cut off from a restarting database, mid-translation). What that owner sent DingTalk
    #: may be applied and never recorded, so the last-applied snapshot is not to be trusted.
    orphaned: bool = False


#: A row a worker may claim now. Built once: a worker looks at every commit of the API, and
#: building the statement cost more CPU than running it.
_CLAIMABLE = (
    OutboxEntry.lane <= bindparam("max_lane"),
    OutboxEntry.available_at <= bindparam("now"),
    or_(OutboxEntry.lease_expires_at.is_(None), OutboxEntry.lease_expires_at < bindparam("now")),
    OutboxEntry.id.not_in(bindparam("exclude", expanding=True)),
)
_ANY_CLAIMABLE = select(OutboxEntry.id).where(*_CLAIMABLE).limit(1)

#: ``exclude`` is padded to a multiple of this with an id no row has, so that the claim is
#: compiled for a few list lengths only (prepared.py compiles one statement per length).
_EXCLUDE_STEP = 16
_NO_ROW = -1


def _claimable_now(now: datetime, max_lane: Lane, exclude: Collection[int]) -> dict[str, Any]:
    """The parameters of _CLAIMABLE."""
    padded = list(exclude)
    short = -len(padded) % _EXCLUDE_STEP  # to the next multiple
    padded += [_NO_ROW] * (short if padded else _EXCLUDE_STEP)  # never empty: "NOT IN ()"
    return {"max_lane": int(max_lane), "now": now, "exclude": padded}


def _due_rows(dialect: str) -> Any:
    stmt = (
        select(
            OutboxEntry.id,
            OutboxEntry.resource_type,
            OutboxEntry.resource_id,
            OutboxEntry.seq,
            OutboxEntry.attempts,
            OutboxEntry.actor,
            OutboxEntry.first_changed_at,
            OutboxEntry.lane,
            OutboxEntry.lease_owner,
        )
        .where(*_CLAIMABLE)
        # Issue 14: the most urgent lane first (leavers before edits before onboarding and
        # repairs), oldest first within a lane. Within a lane, groups first ("Group" sorts
        # before "User"): the departments they stand for must exist before people move in.
        # ix_outbox_claim_order has exactly this order, so the claim reads the first rows
        # of an index instead of sorting every due row (7.7 ms of CPU at 10,000 due, inside
        # the writer's turn on SQLite; migration 0018).
        .order_by(
            OutboxEntry.lane,
            OutboxEntry.resource_type,
            OutboxEntry.available_at,
            OutboxEntry.id,
        )
        .limit(bindparam("limit"))
    )
    if dialect == "postgresql":
        # Several workers: each skips rows another is claiming right now (design.md).
        stmt = stmt.with_for_update(skip_locked=True)
    return stmt


# Prepared (directory/prepared.py): the worker claims, completes and settles for every change.
_DUE_ROWS = Prepared(_due_rows, expanding="exclude")
_LEASE = Prepared(
    update(OutboxEntry)
    .where(OutboxEntry.id.in_(bindparam("ids", expanding=True)))
    .values(lease_owner=bindparam("owner"), lease_expires_at=bindparam("until")),
    expanding="ids",
)
_DELETE_DONE = Prepared(
    delete(OutboxEntry).where(
        OutboxEntry.id == bindparam("id"), OutboxEntry.seq == bindparam("seq")
    )
)
_KEEP_LAG_FROM = Prepared(
    update(OutboxEntry)
    .where(OutboxEntry.id == bindparam("id"))
    .values(first_changed_at=bindparam("claimed_at"))
)
_RELEASE = Prepared(
    update(OutboxEntry)
    .where(OutboxEntry.id == bindparam("id"), OutboxEntry.lease_owner == bindparam("owner"))
    .values(lease_owner=None, lease_expires_at=None)
)


def claim_due(
    db: Database,
    *,
    owner: str,
    now: datetime,
    limit: int,
    lease: timedelta,
    max_lane: Lane = Lane.BULK,
    exclude: Collection[int] = (),
) -> list[Claim]:
    """Look for due rows, and claim up to ``limit`` of them only if there are (claim_batch).

    The look is a read: a claim is a write, and on SQLite that is the one writer's turn the
    API's writes wait for. A worker wakes at every commit of the API, and when its threads are
    busy it only looks for a leaver, who is rarely there: a claim per wake-up doubled the
    write transactions of a bulk load (issue 14)."""
    with db.read() as session:
        found = session.scalar(_ANY_CLAIMABLE, _claimable_now(now, max_lane, exclude))
    if found is None:
        return []
    with db.transaction() as cur:
        return claim_batch(
            cur, owner=owner, now=now, limit=limit, lease=lease, max_lane=max_lane, exclude=exclude
        )


def claim_batch(
    where: Session | Cursor,
    *,
    owner: str,
    now: datetime,
    limit: int,
    lease: timedelta,
    max_lane: Lane = Lane.BULK,
    exclude: Collection[int] = (),
) -> list[Claim]:
    """Lease up to ``limit`` due rows in lanes up to ``max_lane`` to ``owner``, in the
    transaction of ``where`` (a Session, or a Cursor of ``Database.transaction``).

    A crashed owner's lease simply expires. ``exclude``: rows the caller is still working on.
    Their lease may have lapsed (the heartbeat could not reach a restarting database); claimed
    again, a second thread would translate the same resource at once, and the one that read
    the older state could write it to DingTalk last."""
    cur = where if isinstance(where, Cursor) else Cursor.of(where)
    due = _DUE_ROWS.rows(cur, limit=limit, **_claimable_now(now, max_lane, exclude))
    claims = [
        Claim(
            id=row_id,
            resource_type=rtype,
            resource_id=rid,
            seq=seq,
            attempts=attempts,
            actor=actor,
            first_changed_at=first_changed_at,
            claimed_at=now,
            lane=lane,
            # Every way a row is settled clears its owner: one still named is a lapsed lease's.
            orphaned=lease_owner is not None,
        )
        for row_id, rtype, rid, seq, attempts, actor, first_changed_at, lane, lease_owner in due
    ]
    if claims:
        _LEASE.execute(cur, ids=[c.id for c in claims], owner=owner, until=now + lease)
    return claims


def extend_leases(
    session: Session, ids: list[int], *, owner: str, now: datetime, lease: timedelta
) -> None:
    """Keep the leases of rows still being worked on."""
    if ids:
        session.execute(
            update(OutboxEntry)
            .where(OutboxEntry.id.in_(ids), OutboxEntry.lease_owner == owner)
            .values(lease_expires_at=now + lease)
        )


def complete(session: Session, claim: Claim, *, owner: str) -> bool:
    """complete_on, in the session's transaction."""
    return complete_on(Cursor.of(session), claim, owner=owner)


def complete_on(cur: Cursor, claim: Claim, *, owner: str) -> bool:
    """Delete a processed row unless the resource changed again meanwhile (then release it)."""
    if _DELETE_DONE.execute(cur, id=claim.id, seq=claim.seq):
        return True
    if claim.claimed_at is not None:
        # What we applied is applied; the changes still waiting came after we claimed the
        # row (counting from the claim errs on the long side: lag is never under-reported).
        _KEEP_LAG_FROM.execute(cur, id=claim.id, claimed_at=claim.claimed_at)
    _RELEASE.execute(cur, id=claim.id, owner=owner)
    return False


def release(session: Session, claim: Claim, *, owner: str) -> None:
    """Give a row back without changing when it is due."""
    _RELEASE.execute(Cursor.of(session), id=claim.id, owner=owner)


def postpone(
    session: Session, claim: Claim, *, owner: str, until: datetime, count_attempt: bool
) -> None:
    """Make a row due again later; a throttled call does not count as an attempt."""
    values: dict[str, object] = {
        "available_at": until,
        "lease_owner": None,
        "lease_expires_at": None,
    }
    if count_attempt:
        values["attempts"] = OutboxEntry.attempts + 1
    session.execute(
        update(OutboxEntry)
        .where(
            OutboxEntry.id == claim.id,
            OutboxEntry.lease_owner == owner,
            # A newer change resets the schedule itself (directory/outbox.py); keep that.
            OutboxEntry.seq == claim.seq,
        )
        .values(**values)
    )
    release(session, claim, owner=owner)


def remove(session: Session, claim: Claim) -> bool:
    """Drop a row whose change goes to the dead-letter list, unless the resource changed again
    since the claim; return whether it was dropped."""
    return _DELETE_DONE.execute(Cursor.of(session), id=claim.id, seq=claim.seq) == 1


def backoff(attempt: int, *, base: float = 30.0, cap: float = 1800.0, rng: random.Random) -> float:
    """Seconds before retry ``attempt`` (1-based): exponential with full jitter above half."""
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    return ceiling / 2 + rng.random() * ceiling / 2


def next_due(session: Session, *, now: datetime) -> datetime | None:
    """Return when the next row becomes due (for the worker's sleep), or None."""
    return session.scalar(
        select(OutboxEntry.available_at)
        .where(or_(OutboxEntry.lease_expires_at.is_(None), OutboxEntry.lease_expires_at < now))
        .order_by(OutboxEntry.available_at)
        .limit(1)
    )
