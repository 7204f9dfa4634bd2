"""Operator actions from the console, as rows the worker carries out (issue 13).

A web request never calls DingTalk (design.md): pressing "retry" or "sync now" inserts a
``console_actions`` row in the request's transaction; the worker claims it, does the work
through the store and the translator, and writes ``done_at`` and ``outcome``. The page polls.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scim_bridge.directory.models import ConsoleAction
from scim_bridge.errors import BadRequest


class ActionKind(enum.StrEnum):
    """What an operator may ask the worker to do."""

    SYNC_NOW = "sync_now"  # project one person now (provision on demand)
    RETRY = "retry"  # put dead letters back in the outbox: one, a group, or "all"
    DROP = "drop"  # forget dead letters
    APPLY = "apply"  # apply a reconcile's repairs
    # The failures and changes pages (console-ops, issue 13):
    GUARD_CONFIRM = "guard_confirm"  # release a paused burst of removals (target: its token)
    GUARD_REJECT = "guard_reject"  # keep a paused burst's people in DingTalk (target: token)
    PLAN = "plan"  # compute the plan preview of the mapping in force (target: "preview")


#: The target of an action on every dead letter.
ALL = "all"


@dataclass(frozen=True)
class QueuedAction:
    """An action as the console shows it."""

    id: int
    kind: str
    target: str
    requested_by: str
    requested_at: datetime
    done_at: datetime | None
    outcome: str | None


def queue_action(
    session: Session, kind: str, *, target: str, requested_by: str, now: datetime
) -> QueuedAction:
    """Insert an action for the worker; a kind or target it cannot act on is a 400."""
    try:
        kind = ActionKind(kind).value
    except ValueError:
        known = ", ".join(k.value for k in ActionKind)
        raise BadRequest(f"unknown action {kind!r}; the console knows {known}") from None
    if not target or len(target) > 300:
        raise BadRequest("an action needs a target of 1-300 characters")
    row = ConsoleAction(kind=kind, target=target, requested_by=requested_by, requested_at=now)
    session.add(row)
    session.flush()
    return _view(row)


def pending_count(session: Session) -> int:
    """Return how many actions wait for the worker."""
    query = select(func.count()).select_from(ConsoleAction).where(ConsoleAction.done_at.is_(None))
    return int(session.scalar(query) or 0)


def recent_actions(session: Session, *, limit: int = 10) -> list[QueuedAction]:
    """Return the latest actions, newest first."""
    query = select(ConsoleAction).order_by(ConsoleAction.id.desc()).limit(limit)
    return [_view(r) for r in session.scalars(query)]


def _view(row: ConsoleAction) -> QueuedAction:
    return QueuedAction(
        id=row.id,
        kind=row.kind,
        target=row.target,
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        done_at=row.done_at,
        outcome=row.outcome,
    )


def waiting_ids(
    session: Session, *, limit: int, kinds: Collection[str] = (), exclude: bool = False
) -> list[int]:
    """Return the ids of actions the worker has not carried out yet, oldest first.

    ``kinds``: only these kinds (``exclude``: all but these), so that long actions (a whole
    plan, a reconcile) have a job of their own and never hold up a "sync now"."""
    query = select(ConsoleAction.id).where(ConsoleAction.done_at.is_(None))
    if kinds:
        chosen = ConsoleAction.kind.in_(list(kinds))
        query = query.where(~chosen if exclude else chosen)
    return list(session.scalars(query.order_by(ConsoleAction.id).limit(limit)))


def claim(session: Session, action_id: int) -> ConsoleAction | None:
    """Lock a waiting action for this transaction; None if another worker has it or did it.

    On PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets several workers share the table (as
    sync/claims.py does for the outbox); SQLite has one writer at a time anyway.
    """
    query = select(ConsoleAction).where(
        ConsoleAction.id == action_id, ConsoleAction.done_at.is_(None)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return session.scalar(query)


def finish(session: Session, action_id: int, *, outcome: str, now: datetime) -> None:
    """Record that an action was carried out, and what came of it."""
    row = session.get(ConsoleAction, action_id)
    if row is not None:
        row.done_at = now
        row.outcome = outcome[:500]


# --- console-person (issue 13): the person page's "Sync now" state ---------------------------


def latest_action(session: Session, kind: str, *, target: str) -> QueuedAction | None:
    """Return the newest action of ``kind`` on ``target`` (the person page shows its state)."""
    query = (
        select(ConsoleAction)
        .where(ConsoleAction.kind == kind, ConsoleAction.target == target)
        .order_by(ConsoleAction.id.desc())
        .limit(1)
    )
    row = session.scalar(query)
    return _view(row) if row is not None else None


def actions_on(session: Session, *, kinds: tuple[str, ...], limit: int = 10) -> list[QueuedAction]:
    """Return the latest actions of some kinds, newest first (a page's own progress list)."""
    query = (
        select(ConsoleAction)
        .where(ConsoleAction.kind.in_(kinds))
        .order_by(ConsoleAction.id.desc())
        .limit(limit)
    )
    return [_view(r) for r in session.scalars(query)]
