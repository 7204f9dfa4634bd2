"""Claiming outbox rows with leases, so any number of workers share them safely."""

from __future__ import annotations

import random
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, delete, or_, select, update
from sqlalchemy.orm import Session

from scim_bridge.directory.db import Database
from scim_bridge.directory.models import OutboxEntry
from scim_bridge.directory.outbox import Lane


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


def _claimable_now(now: datetime, max_lane: Lane, exclude: Collection[int]) -> dict[str, Any]:
    """The parameters of _CLAIMABLE."""
    return {"max_lane": int(max_lane), "now": now, "exclude": list(exclude)}


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
    with db.write() as session:
        return claim_batch(
            session,
            owner=owner,
            now=now,
            limit=limit,
            lease=lease,
            max_lane=max_lane,
            exclude=exclude,
        )


def claim_batch(
    session: Session,
    *,
    owner: str,
    now: datetime,
    limit: int,
    lease: timedelta,
    max_lane: Lane = Lane.BULK,
    exclude: Collection[int] = (),
) -> list[Claim]:
    """Lease up to ``limit`` due rows in lanes up to ``max_lane`` to ``owner``.

    A crashed owner's lease simply expires. ``exclude``: rows the caller is still working on.
    Their lease may have lapsed (the heartbeat could not reach a restarting database); claimed
    again, a second thread would translate the same resource at once, and the one that read
    the older state could write it to DingTalk last."""
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
        # repairs), oldest first within a lane. Within a lane, groups first: the departments
        # they stand for must exist before people move in.
        .order_by(
            OutboxEntry.lane,
            OutboxEntry.resource_type.desc(),
            OutboxEntry.available_at,
            OutboxEntry.id,
        )
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Several workers: each skips rows another is claiming right now (design.md).
        stmt = stmt.with_for_update(skip_locked=True)
    due = _claimable_now(now, max_lane, exclude)
    claims = [
        # Every way a row is settled clears its owner: one still named is a lapsed lease's.
        Claim(*row[:7], claimed_at=now, lane=row[7], orphaned=row[8] is not None)
        for row in session.execute(stmt, due)
    ]
    if claims:
        session.execute(
            update(OutboxEntry)
            .where(OutboxEntry.id.in_([c.id for c in claims]))
            .values(lease_owner=owner, lease_expires_at=now + lease)
        )
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
    """Delete a processed row unless the resource changed again meanwhile (then release it)."""
    result = session.execute(
        delete(OutboxEntry).where(OutboxEntry.id == claim.id, OutboxEntry.seq == claim.seq)
    )
    deleted = cast(CursorResult[Any], result).rowcount
    if not deleted:
        if claim.claimed_at is not None:
            # What we applied is applied; the changes still waiting came after we claimed the
            # row (counting from the claim errs on the long side: lag is never under-reported).
            session.execute(
                update(OutboxEntry)
                .where(OutboxEntry.id == claim.id)
                .values(first_changed_at=claim.claimed_at)
            )
        release(session, claim, owner=owner)
    return bool(deleted)


def release(session: Session, claim: Claim, *, owner: str) -> None:
    """Give a row back without changing when it is due."""
    session.execute(
        update(OutboxEntry)
        .where(OutboxEntry.id == claim.id, OutboxEntry.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
    )


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


def remove(session: Session, claim: Claim) -> None:
    """Drop a row (its change went to the dead-letter list)."""
    session.execute(delete(OutboxEntry).where(OutboxEntry.id == claim.id))


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
