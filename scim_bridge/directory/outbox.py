"""The outbox: "this resource changed", written inside the transaction that changed it.

Each row sits in a priority lane (issue 14, "Leavers first"): a deactivation or deletion is a
security event (the leaver must lose access now), so it never waits behind a bulk onboarding
or a reconcile repair. The lane is decided when the change is recorded, by the caller that
knows what the change is, and only ever moves up: a create followed by a deactivation before
the translator got to it is a leaver (lane 0). sync/claims.py takes the lowest lane first,
oldest first within a lane.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import IntEnum
from typing import Any

from sqlalchemy import bindparam, case, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from scim_bridge.directory.models import OutboxEntry
from scim_bridge.directory.prepared import Cursor, Prepared


class Lane(IntEnum):
    """How urgent a pending change is; the translator claims the lowest value first."""

    #: Deactivations and deletions: a leaver loses access before anything else happens.
    DEPROVISION = 0
    #: Changes to people and groups that already exist (titles, moves, memberships).
    UPDATE = 1
    #: Creations and bulk work: onboarding, reconcile and console repairs, re-projections.
    BULK = 2

    @property
    def label(self) -> str:
        """The lane's name in metrics (``scim_bridge_outbox_depth{lane="deprovision"}``)."""
        return self.name.lower()


#: PostgreSQL channel notified, on commit, by every transaction that wrote outbox rows.
NOTIFY_CHANNEL = "scim_bridge_outbox"


def _upsert(dialect: str) -> Any:
    columns = (
        "resource_type",
        "resource_id",
        "seq",
        "changed_at",
        "first_changed_at",
        "actor",
        "available_at",
        "lane",
    )
    stmt: Any = pg_insert(OutboxEntry) if dialect == "postgresql" else sqlite_insert(OutboxEntry)
    stmt = stmt.values({**{name: bindparam(name) for name in columns}, "attempts": 0})
    # A new change makes the resource due now and forgets earlier failed attempts: the data
    # may have been fixed, and the translator is level-triggered (it reads current state).
    # first_changed_at is not in the update: the first unapplied change is still unapplied,
    # and the sync lag is measured from it (issue 12). The lane only moves up (issue 14): a
    # pending creation that is deactivated before it was applied is now a leaver's change.
    return stmt.on_conflict_do_update(
        index_elements=[OutboxEntry.resource_type, OutboxEntry.resource_id],
        set_={
            "seq": OutboxEntry.seq + 1,
            "changed_at": stmt.excluded.changed_at,
            "actor": stmt.excluded.actor,
            "available_at": stmt.excluded.available_at,
            "attempts": 0,
            "lane": case(
                (stmt.excluded.lane < OutboxEntry.lane, stmt.excluded.lane),
                else_=OutboxEntry.lane,
            ),
        },
    )


#: Runs in every write request, so prepared (see prepared.py).
_UPSERT = Prepared(_upsert)

#: PostgreSQL: one change's upsert and the NOTIFY in one statement, one round trip less in
#: every write request (issue 14). A data-modifying WITH runs whether or not the query reads
#: it (PostgreSQL docs, "Data-Modifying Statements in WITH"); pg_notify is NOTIFY's function
#: form, delivered on commit the same way.
_UPSERT_AND_NOTIFY = Prepared(
    select(func.pg_notify(NOTIFY_CHANNEL, "")).add_cte(
        _upsert("postgresql").returning(OutboxEntry.id).cte("changed")
    )
)


def mark_changed(
    session: Session,
    resource_type: str,
    resource_ids: Iterable[str],
    *,
    actor: str | None,
    now: datetime,
    lane: Lane,
) -> None:
    """Upsert one outbox row per resource, in the session's transaction, in ``lane``."""
    mark_changed_on(
        Cursor.of(session), resource_type, resource_ids, actor=actor, now=now, lane=lane
    )


def outbox_touched(session: Session) -> bool:
    """Whether the session's transaction wrote outbox rows (the app then wakes workers)."""
    cur = Cursor.cached(session)
    return cur is not None and cur.outbox_touched


def mark_changed_on(
    cur: Cursor,
    resource_type: str,
    resource_ids: Iterable[str],
    *,
    actor: str | None,
    now: datetime,
    lane: Lane,
) -> None:
    """Upsert one outbox row per resource; a pending row is bumped (and its lane raised)."""
    rows = [
        {
            "resource_type": resource_type,
            "resource_id": rid,
            "seq": 1,
            "changed_at": now,
            "first_changed_at": now,
            "actor": actor,
            "available_at": now,
            "lane": int(lane),
        }
        for rid in dict.fromkeys(resource_ids)
    ]
    if not rows:
        return
    # Delivered when (and only if) the transaction commits: workers elsewhere wake up.
    notify = cur.dialect.name == "postgresql" and not cur.outbox_touched
    if notify and len(rows) == 1:
        _UPSERT_AND_NOTIFY.rows(cur, **rows[0])
    else:
        _UPSERT.execute_many(cur, rows)
        if notify:
            cur.run(f"NOTIFY {NOTIFY_CHANNEL}")
    cur.outbox_touched = True
