"""The mass-change guard in the running bridge: proposals, the pause, the operator's go-ahead.

The decision itself is the mapping engine's pure ``evaluate_guard``; this module keeps its
inputs in the database so every worker, and the CLI, sees the same burst.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, or_, select, text
from sqlalchemy.orm import Session

from scim_bridge.directory.bridge_state import store
from scim_bridge.directory.models import GuardRemoval, Link, User
from scim_bridge.directory.outbox import Lane, mark_changed
from scim_bridge.mapping.guard import (
    Confirmation,
    GuardDecision,
    Removal,
    confirm,
    evaluate_guard,
    reject,
)
from scim_bridge.mapping.rules import GuardRules

# The reads (the pause, the keys) live below sync, for explain and the console to share.
from scim_bridge.monitor.guard_state import CONFIRMATION, PAUSED, REJECTION, paused
from scim_bridge.monitor.guard_state import stored_state as _state

__all__ = [
    "CONFIRMATION",
    "PAUSED",
    "REJECTION",
    "confirm_burst",
    "decide",
    "paused",
    "propose_removal",
    "reject_burst",
]

#: pg_advisory_xact_lock key of the guard's critical section ("scimguard" in ASCII, truncated).
GUARD_LOCK_KEY = 0x7363696D6775


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _one_at_a_time(session: Session) -> None:
    """Serialise guard decisions across worker threads and processes for this transaction."""
    if session.get_bind().dialect.name == "postgresql":
        # SQLite's write transactions are serial already; PostgreSQL needs the lock taken
        # before any row is written, or two proposals deadlock on each other's inserts.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": GUARD_LOCK_KEY})


def _would_be_removed(session: Session, *, inactive_is_removal: bool) -> list[str]:
    """People in DingTalk whose user is gone, or inactive when leavers are deleted."""
    gone = (
        or_(User.id.is_(None), User.active.is_(False)) if inactive_is_removal else User.id.is_(None)
    )
    return list(
        session.scalars(
            select(Link.key)
            .outerjoin(User, User.id == Link.key)
            .where(Link.kind == "user", Link.state == "synced", gone)
        )
    )


def decide(
    session: Session, rules: GuardRules, *, now: datetime, inactive_is_removal: bool = True
) -> GuardDecision:
    """Evaluate the guard over the removals proposed, pending or done within its window."""
    _one_at_a_time(session)
    start = now - timedelta(minutes=rules.window_minutes)
    session.execute(delete(GuardRemoval).where(GuardRemoval.proposed_at < start))
    # Everyone the directory already says will go counts, not only who reached the worker
    # first: a burst the IdP sent in one go is held before its first deletion.
    known = set(session.scalars(select(GuardRemoval.scim_id)))
    for scim_id in _would_be_removed(session, inactive_is_removal=inactive_is_removal):
        if scim_id not in known:
            session.add(GuardRemoval(scim_id=scim_id, proposed_at=now))
    session.flush()
    rows = list(session.scalars(select(GuardRemoval)))
    removals = [Removal(r.scim_id, _aware(r.proposed_at)) for r in rows]
    # A proposal another worker stamped while we waited for the lock may be a little "later"
    # than our clock reading; it still belongs to this burst (and keeps its own stamp, which
    # the operator's token is made of).
    now = max([now, *(r.at for r in removals)])
    # The denominator is who was in DingTalk when the window opened: present plus removed.
    synced = int(
        session.scalar(
            select(func.count())
            .select_from(Link)
            .where(Link.kind == "user", Link.state == "synced")
        )
        or 0
    )
    removed = int(
        session.scalar(
            select(func.count())
            .select_from(Link)
            .where(
                Link.kind == "user",
                Link.state == "removed",
                Link.key.in_([r.scim_id for r in rows]),
            )
        )
        or 0
    )
    stored = _state(session, CONFIRMATION)
    confirmation = (
        Confirmation(stored["token"], _aware(datetime.fromisoformat(stored["confirmed_at"])))
        if stored
        else None
    )
    return evaluate_guard(
        removals, active_users=synced + removed, now=now, rules=rules, confirmation=confirmation
    )


def propose_removal(
    session: Session,
    scim_id: str,
    rules: GuardRules,
    *,
    now: datetime,
    inactive_is_removal: bool = True,
) -> GuardDecision:
    """Record that a person is about to be removed, and decide whether that may happen now."""
    _one_at_a_time(session)
    if session.get(GuardRemoval, scim_id) is None:
        session.add(GuardRemoval(scim_id=scim_id, proposed_at=now))
        session.flush()
    decision = decide(session, rules, now=now, inactive_is_removal=inactive_is_removal)
    rejection = _state(session, REJECTION)
    if decision.allow and rejection and scim_id in rejection["pending"]:
        # An operator said no to this person's removal: it waits whatever the numbers say.
        decision = replace(
            decision,
            allow=False,
            token=rejection["token"],
            reason=(
                f"paused: {rejection['by']} rejected this burst of removals at "
                f"{rejection['rejected_at']}; they stay held until the IdP restores these "
                f"people, or an operator confirms with token {rejection['token']}"
            ),
        )
    if decision.allow:
        store(session, PAUSED, None, now=now)
    else:
        store(
            session,
            PAUSED,
            {
                "token": decision.token,
                "removals": decision.removals,
                "active_users": decision.active_users,
                "percent": round(decision.percent, 1),
                "threshold": decision.threshold,
                "reason": decision.reason,
                "since": now.isoformat(),
                "rejected_by": rejection["by"] if rejection else None,
            },
            now=now,
        )
    return decision


def confirm_burst(
    session: Session,
    rules: GuardRules,
    token: str,
    *,
    now: datetime,
    actor: str,
    inactive_is_removal: bool = True,
) -> int:
    """Release the paused removals with the operator's token; return how many were released."""
    decision = decide(session, rules, now=now, inactive_is_removal=inactive_is_removal)
    rejection = _state(session, REJECTION)
    if decision.allow and rejection is not None and token.strip() == rejection["token"]:
        # Confirming a burst rejected earlier whose numbers pass now: only the rejection
        # holds its removals, and it is lifted.
        store(session, REJECTION, None, now=now)
        store(session, PAUSED, None, now=now)
        mark_changed(
            session,
            "User",
            list(rejection["pending"]),
            actor=actor,
            now=now,
            lane=Lane.DEPROVISION,
        )
        return len(rejection["pending"])
    confirmation = confirm(decision, token, now=now)
    store(session, REJECTION, None, now=now)
    store(
        session,
        CONFIRMATION,
        {"token": confirmation.token, "confirmed_at": confirmation.confirmed_at.isoformat()},
        now=now,
    )
    store(session, PAUSED, None, now=now)
    # The held-back people are due again at once; they are leavers (issue 14: lane 0).
    mark_changed(
        session, "User", list(decision.pending), actor=actor, now=now, lane=Lane.DEPROVISION
    )
    return len(decision.pending)


def reject_burst(
    session: Session,
    rules: GuardRules,
    token: str,
    *,
    now: datetime,
    actor: str,
    inactive_is_removal: bool = True,
) -> int:
    """Keep the paused removals from happening (an operator's "no"); return how many are held.

    Nothing is deleted and nothing is queued: the people stay in DingTalk, held even if the
    numbers later fall under the limit, until the IdP restores them (they are then no longer
    removals) or an operator confirms the token after all.
    """
    decision = decide(session, rules, now=now, inactive_is_removal=inactive_is_removal)
    rejection = reject(decision, token, now=now)
    store(
        session,
        REJECTION,
        {
            "token": rejection.token,
            "rejected_at": rejection.rejected_at.isoformat(),
            "by": actor,
            "pending": list(rejection.pending),
        },
        now=now,
    )
    pause = _state(session, PAUSED)
    if pause is not None:
        store(session, PAUSED, {**pause, "rejected_by": actor}, now=now)
    return len(rejection.pending)
