"""The mass-change guard's state as readers see it: the pause, and who it holds back.

sync/guard.py writes these rows (it decides, with the mapping engine's pure ``evaluate_guard``);
``explain``, the console and the CLI only read them, so the read lives here, below ``sync`` and
``http`` both (issue 13: read models move to ``monitor/``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scim_bridge.directory.bridge_state import stored
from scim_bridge.directory.models import GuardRemoval, User

#: bridge_state keys: the operator's last go-ahead, and the current pause.
CONFIRMATION = "guard.confirmation"
PAUSED = "guard.paused"
#: The operator's last "no" (issue 13: confirm or reject from the console).
REJECTION = "guard.rejection"


def stored_state(session: Session, key: str) -> dict[str, Any] | None:
    """Return one named guard value (``PAUSED``, ``CONFIRMATION``), or None."""
    return stored(session, key)


def paused(session: Session) -> dict[str, Any] | None:
    """Return the current pause (token, numbers, reason), or None."""
    return stored_state(session, PAUSED)


def held_back(session: Session, scim_id: str) -> bool:
    """Say whether the guard counts this person among the removals of its window."""
    found = session.scalar(select(GuardRemoval.scim_id).where(GuardRemoval.scim_id == scim_id))
    return found is not None


def rejection(session: Session) -> dict[str, Any] | None:
    """Return the operator's standing rejection (token, by, when, people), or None."""
    return stored_state(session, REJECTION)


def counted_removals(session: Session, *, limit: int = 50) -> tuple[int, list[tuple[str, str]]]:
    """Return how many removals the guard counts now, and the first (scim id, name) of them."""
    total = int(session.scalar(select(func.count()).select_from(GuardRemoval)) or 0)
    rows = session.execute(
        select(GuardRemoval.scim_id, User.display_name, User.user_name)
        .outerjoin(User, User.id == GuardRemoval.scim_id)
        .order_by(GuardRemoval.proposed_at, GuardRemoval.scim_id)
        .limit(limit)
    )
    return total, [(sid, display or user_name or "") for sid, display, user_name in rows]
