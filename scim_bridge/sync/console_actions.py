"""The worker's side of the console's actions (issue 13): carry out what operators asked.

A web request only inserts a ``console_actions`` row (directory/console_actions.py); this job
claims each waiting row and acts through the store: "retry" puts dead letters back in the
outbox, "drop" forgets them, "sync now" queues one person; the translator then does the
DingTalk work as for any change. Each action is its own transaction, so one failing action
does not hold up the others (style.md: jobs isolate failures per item).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from scim_bridge.directory import console_actions
from scim_bridge.directory.console_actions import ALL, ActionKind
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import ConsoleAction
from scim_bridge.directory.outbox import Lane, mark_changed
from scim_bridge.monitor.lag_history import record_lag_sample
from scim_bridge.sync import dlq

log = logging.getLogger("scim_bridge.sync.console_actions")

#: Actions carried out per run; the rest wait for the next run, seconds later.
BATCH = 50


def carry_out_actions(
    db: Database, *, clock: Callable[[], datetime], wake: Callable[[], None]
) -> int:
    """Carry out the waiting console actions; wake the translator if any queued work."""
    with db.read() as session:
        ids = console_actions.waiting_ids(session, limit=BATCH)
    done = 0
    for action_id in ids:
        try:
            with db.write() as session:
                row = console_actions.claim(session, action_id)
                if row is None:
                    continue  # another worker has it
                outcome = carry_out(session, row, now=clock())
                console_actions.finish(session, action_id, outcome=outcome, now=clock())
            done += 1
        except Exception as exc:  # one bad action must not stop the others
            log.exception("console action %s failed", action_id)
            with db.write() as session:
                why = f"failed: {type(exc).__name__}; see the worker's log"
                console_actions.finish(session, action_id, outcome=why, now=clock())
    if done:
        wake()
    return done


def carry_out(session: Session, row: ConsoleAction, *, now: datetime) -> str:
    """Do one action in the caller's transaction; return its outcome in plain words."""
    actor = f"console:{row.requested_by}"
    ids = None if row.target == ALL else _letter_ids(row.target)
    if row.kind == ActionKind.RETRY:
        if ids == []:
            return f"nothing to retry: {row.target!r} names no dead letter"
        count = dlq.retry(session, ids, now=now, actor=actor)
        return f"{count} dead letter(s) queued again"
    if row.kind == ActionKind.DROP:
        if not ids:
            return "drop needs dead-letter ids (dropping every letter at once is refused)"
        return f"{dlq.drop(session, ids)} dead letter(s) dropped"
    if row.kind == ActionKind.SYNC_NOW:
        mark_changed(session, "User", [row.target], actor=actor, now=now, lane=Lane.BULK)
        return "queued for DingTalk"
    return f"{row.kind} is not carried out by this version yet"


def _letter_ids(target: str) -> list[int]:
    """Parse "12" or "12,13" into dead-letter ids; anything else names none."""
    try:
        return [int(part) for part in target.split(",") if part.strip()]
    except ValueError:
        return []


def sample_lag(db: Database, *, clock: Callable[[], datetime]) -> None:
    """Keep the overview's 24-hour lag history (monitor/lag_history.py) up to date."""
    with db.write() as session:
        record_lag_sample(session, now=clock())
