"""The mass-change guard: pause projection when too many users would be removed at once.

A burst of deactivations (a mis-scoped IdP assignment, a Workday import gone wrong) would
otherwise delete people from DingTalk within seconds. The guard is pure: the sync engine passes
the removals it has proposed or applied recently, the active user count, the clock and any
operator confirmation, and gets a decision back.

Flow: ``evaluate_guard`` answers ``allow=False`` with a ``token``; the operator reviews the burst
and confirms with that token (``confirm``), which yields a :class:`Confirmation` the caller
stores; every later ``evaluate_guard`` given that confirmation releases the removals proposed up
to the moment of confirmation. Removals proposed after it count afresh.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from scim_bridge.errors import BridgeError
from scim_bridge.mapping.rules import GuardRules


class GuardError(BridgeError):
    """An operator confirmation that does not fit the paused burst."""


@dataclass(frozen=True)
class Removal:
    """One proposed removal of a DingTalk user (leaver delete, scope removal, SCIM delete)."""

    scim_id: str
    at: datetime


@dataclass(frozen=True)
class Confirmation:
    """An operator's go-ahead for the removals proposed up to ``confirmed_at``."""

    token: str
    confirmed_at: datetime


@dataclass(frozen=True)
class GuardDecision:
    """Whether removals may proceed now, and the numbers behind the answer."""

    allow: bool
    removals: int
    active_users: int
    percent: float
    threshold: float
    token: str
    reason: str
    pending: tuple[str, ...] = ()


def guard_token(removals: Iterable[Removal]) -> str:
    """Return the token that names one set of removals (what an operator confirms)."""
    digest = hashlib.sha256()
    for r in sorted(removals, key=lambda r: (r.scim_id, r.at.isoformat())):
        digest.update(f"{r.scim_id}@{r.at.isoformat()}\n".encode())
    return digest.hexdigest()[:12]


def evaluate_guard(
    removals: Iterable[Removal],
    *,
    active_users: int,
    now: datetime,
    rules: GuardRules,
    confirmation: Confirmation | None = None,
) -> GuardDecision:
    """Decide allow or pause for the removals proposed within the guard's window."""
    start = now - timedelta(minutes=rules.window_minutes)
    counted = [r for r in removals if start < r.at <= now]
    if confirmation is not None:
        # Released: everything proposed up to the confirmation; later removals count afresh.
        counted = [r for r in counted if r.at > confirmation.confirmed_at]
    count = len(counted)
    percent = 100.0 * count / active_users if active_users > 0 else (100.0 if count else 0.0)
    token = guard_token(counted)
    pending = tuple(sorted(r.scim_id for r in counted))
    over = count > 0 and count >= rules.min_removals and percent > rules.max_removal_percent
    if not rules.enabled or not over:
        return GuardDecision(
            allow=True,
            removals=count,
            active_users=active_users,
            percent=percent,
            threshold=rules.max_removal_percent,
            token=token,
            reason=(
                f"{count} removals in the last {rules.window_minutes} min "
                f"({percent:.1f}% of {active_users} active users) is within the limit"
            ),
            pending=pending,
        )
    return GuardDecision(
        allow=False,
        removals=count,
        active_users=active_users,
        percent=percent,
        threshold=rules.max_removal_percent,
        token=token,
        reason=(
            f"paused: {count} removals in the last {rules.window_minutes} min are "
            f"{percent:.1f}% of {active_users} active users, over the "
            f"{rules.max_removal_percent:g}% limit; review them and confirm with token {token}"
        ),
        pending=pending,
    )


def confirm(decision: GuardDecision, token: str, *, now: datetime) -> Confirmation:
    """Turn an operator's token into a Confirmation; refuse a token for another burst."""
    _check_token(decision, token, "confirm")
    return Confirmation(token=decision.token, confirmed_at=now)


@dataclass(frozen=True)
class Rejection:
    """An operator's "no" to a paused burst: these people stay in DingTalk.

    Rejected removals stay held even when later numbers would let them pass (the window
    slides, more people join), until the IdP restores the people or an operator confirms.
    """

    token: str
    rejected_at: datetime
    pending: tuple[str, ...]


def reject(decision: GuardDecision, token: str, *, now: datetime) -> Rejection:
    """Turn an operator's token into a Rejection of the paused burst; refuse another burst's."""
    _check_token(decision, token, "reject")
    return Rejection(token=decision.token, rejected_at=now, pending=decision.pending)


def _check_token(decision: GuardDecision, token: str, verb: str) -> None:
    if decision.allow:
        raise GuardError(f"nothing to {verb}: the mass-change guard is not paused")
    if token.strip() != decision.token:
        raise GuardError(
            f"token {token!r} does not match the paused removals (token {decision.token}); "
            "the burst changed since it was shown: review it again and use the current token"
        )
