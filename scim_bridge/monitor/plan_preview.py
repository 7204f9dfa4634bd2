"""The console's plan preview as stored: what ``scim-bridge plan`` would list, by kind (issue 13).

Planning 100,000 people takes seconds of CPU: far over a page's 200 ms. So the worker computes
the preview when an admin asks for it (a ``plan`` console action, sync/plan_preview.py) with the
engine ``scim-bridge plan --source links`` uses, and keeps a summary here in ``bridge_state``:
the count of every target and kind, and the first rows of each with their field diffs. The
changes page reads it and shows its age and the mapping it was computed with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from scim_bridge.directory.bridge_state import store
from scim_bridge.directory.models import BridgeState

#: The bridge_state key of the stored preview.
PREVIEW_STATE = "console.plan_preview"
#: Rows kept (and shown) per target and kind; the counts are always whole.
ROWS_PER_KIND = 50


@dataclass(frozen=True)
class PreviewKind:
    """One target and kind of the plan: how many, and the first rows with their diffs."""

    target: str
    kind: str
    count: int
    #: {"name", "key", "id", "reason", "changes": [[field, old, new], ...]} (values as text)
    rows: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class PlanPreview:
    """A stored plan preview: when, with which mapping, and its kinds."""

    computed_at: datetime
    fingerprint: str
    calls: int
    kinds: tuple[PreviewKind, ...]

    @property
    def total(self) -> int:
        """Return the number of operations the plan holds."""
        return sum(k.count for k in self.kinds)


def store_preview(session: Session, preview: PlanPreview, *, now: datetime) -> None:
    """Keep a computed preview (replacing the previous one), in the caller's transaction."""
    value = {
        "computed_at": preview.computed_at.isoformat(),
        "fingerprint": preview.fingerprint,
        "calls": preview.calls,
        "kinds": [
            {"target": k.target, "kind": k.kind, "count": k.count, "rows": list(k.rows)}
            for k in preview.kinds
        ],
    }
    store(session, PREVIEW_STATE, value, now=now)


def stored_preview(session: Session) -> PlanPreview | None:
    """Return the latest computed preview, or None when none was asked for yet."""
    row = session.get(BridgeState, PREVIEW_STATE)
    if row is None:
        return None
    value = row.value
    return PlanPreview(
        computed_at=datetime.fromisoformat(value["computed_at"]),
        fingerprint=str(value["fingerprint"]),
        calls=int(value["calls"]),
        kinds=tuple(
            PreviewKind(k["target"], k["kind"], int(k["count"]), tuple(k["rows"]))
            for k in value["kinds"]
        ),
    )
