"""The inbox of DingTalk contact-change pushes: stored by the endpoint, drained by the worker.

The outbox's mirror image (``outbox.py``): the callback endpoint stores what DingTalk pushed
and answers at once (DingTalk wants the answer within 1.5 s, dingtalk-api.md §9), and the
worker's event job (``sync/events.py``) reads the records and repairs drift later. A web
request never calls DingTalk (design.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scim_bridge.directory.models import DingTalkEvent
from scim_bridge.errors import CallbackReplayed

STORED = "stored"
DUPLICATE = "duplicate"


@dataclass(frozen=True)
class InboxEvent:
    """One stored push, as the event job reads it."""

    id: int
    event_type: str
    user_ids: tuple[str, ...]
    dept_ids: tuple[int, ...]
    attempts: int = 0  # failed repairs before this one


def store_event(
    session: Session,
    *,
    event_type: str,
    event_id: str | None,
    user_ids: Sequence[str],
    dept_ids: Sequence[int],
    nonce: str,
    signed_at: str,
    now: datetime,
) -> str:
    """Store one push; return STORED, or DUPLICATE for DingTalk's retry of a stored one.

    Raises CallbackReplayed (and stores nothing) when this nonce and timestamp were seen.
    """
    seen = session.scalar(
        select(DingTalkEvent.id).where(
            DingTalkEvent.nonce == nonce, DingTalkEvent.signed_at == signed_at
        )
    )
    if seen is not None:
        raise CallbackReplayed("this callback's nonce and timestamp were already received")
    # dingtalk-api.md §9: DingTalk retries a push it thinks failed, with the same eventId; it
    # was stored, so answer "success" again and store nothing.
    retried = select(DingTalkEvent.id).where(DingTalkEvent.event_id == event_id)
    if event_id is not None and session.scalar(retried) is not None:
        return DUPLICATE
    row = DingTalkEvent(
        received_at=now,
        event_type=event_type,
        event_id=event_id,
        user_ids=list(user_ids),
        dept_ids=list(dept_ids),
        nonce=nonce,
        signed_at=signed_at,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        # The same push arriving twice at once: the other request stored it.
        raise CallbackReplayed("this callback was received twice at once") from None
    return STORED


def claim_events(
    session: Session, *, now: datetime, limit: int = 100, after_id: int = 0
) -> list[InboxEvent]:
    """Take up to ``limit`` unprocessed events with ids above ``after_id``, oldest first; each
    is taken by one claimer.

    The claim sets ``processed_at`` with an outcome of "claimed": a crash before the outcome is
    recorded loses only a targeted repair, which the next full reconcile makes good.
    """
    rows = session.execute(
        select(
            DingTalkEvent.id,
            DingTalkEvent.event_type,
            DingTalkEvent.user_ids,
            DingTalkEvent.dept_ids,
            DingTalkEvent.attempts,
        )
        .where(DingTalkEvent.processed_at.is_(None), DingTalkEvent.id > after_id)
        .order_by(DingTalkEvent.id)
        .limit(limit)
    ).all()
    claimed: list[InboxEvent] = []
    for row in rows:
        taken = session.execute(
            update(DingTalkEvent)
            .where(DingTalkEvent.id == row.id, DingTalkEvent.processed_at.is_(None))
            .values(processed_at=now, outcome="claimed")
        )
        if getattr(taken, "rowcount", 0) == 1:  # another worker may have taken it meanwhile
            claimed.append(
                InboxEvent(
                    id=row.id,
                    event_type=row.event_type,
                    user_ids=tuple(str(u) for u in row.user_ids or ()),
                    dept_ids=tuple(int(d) for d in row.dept_ids or ()),
                    attempts=int(row.attempts or 0),
                )
            )
    return claimed


def settle_events(
    session: Session, ids: Sequence[int], *, outcome: str, detail: str | None, now: datetime
) -> None:
    """Record how the events' repair went ("queued", "failed", …)."""
    if not ids:
        return
    session.execute(
        update(DingTalkEvent)
        .where(DingTalkEvent.id.in_(list(ids)))
        .values(processed_at=now, outcome=outcome, detail=detail)
    )


def release_events(session: Session, ids: Sequence[int], *, detail: str) -> None:
    """Give failed events back for the next run, counting the attempt."""
    if not ids:
        return
    session.execute(
        update(DingTalkEvent)
        .where(DingTalkEvent.id.in_(list(ids)))
        .values(
            processed_at=None,
            outcome="retrying",
            detail=detail,
            attempts=DingTalkEvent.attempts + 1,
        )
    )


def pending_count(session: Session) -> int:
    """Count the events not yet taken by the event job."""
    query = select(func.count()).where(DingTalkEvent.processed_at.is_(None))
    return int(session.scalar(query) or 0)


def prune_events(session: Session, *, before: datetime) -> int:
    """Delete events handled before ``before``; return how many.

    Replay protection needs a push's nonce only while its timestamp is fresh (minutes), so
    keeping handled events for days is for people reading what DingTalk sent, not for safety.
    """
    result = session.execute(
        delete(DingTalkEvent).where(
            DingTalkEvent.processed_at.is_not(None),
            DingTalkEvent.processed_at < before,
            DingTalkEvent.outcome != "claimed",
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
