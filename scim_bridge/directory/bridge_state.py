"""Small named values the bridge keeps between runs (the ``bridge_state`` table).

One way to read a value and one to write it: the guard's pause, readiness heartbeats, the plan
preview, cursors and stamps all keep a row here by key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from scim_bridge.directory.models import BridgeState


def stored(session: Session, key: str) -> dict[str, Any] | None:
    """Return the value kept under ``key``, or None."""
    row = session.get(BridgeState, key)
    return None if row is None else dict(row.value)


def store(session: Session, key: str, value: dict[str, Any] | None, *, now: datetime) -> None:
    """Keep ``value`` under ``key`` as of ``now`` (None: forget the key)."""
    row = session.get(BridgeState, key)
    if value is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(BridgeState(key=key, value=value, updated_at=now))
    else:
        row.value, row.updated_at = value, now
