"""The mass-change guard's state as readers see it: the pause, and who it holds back.

sync/guard.py writes these rows (it decides, with the mapping engine's pure ``evaluate_guard``);
``explain``, the console and the CLI only read them, so the read lives here, below ``sync`` and
``http`` both (issue 13: read models move to ``monitor/``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scim_bridge.directory.models import BridgeState, GuardRemoval

#: bridge_state keys: the operator's last go-ahead, and the current pause.
CONFIRMATION = "guard.confirmation"
PAUSED = "guard.paused"


def stored_state(session: Session, key: str) -> dict[str, Any] | None:
    """Return one named guard value (``PAUSED``, ``CONFIRMATION``), or None."""
    row = session.get(BridgeState, key)
    return None if row is None else dict(row.value)


def paused(session: Session) -> dict[str, Any] | None:
    """Return the current pause (token, numbers, reason), or None."""
    return stored_state(session, PAUSED)


def held_back(session: Session, scim_id: str) -> bool:
    """Say whether the guard counts this person among the removals of its window."""
    found = session.scalar(select(GuardRemoval.scim_id).where(GuardRemoval.scim_id == scim_id))
    return found is not None
