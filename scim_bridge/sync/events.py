"""The event job: DingTalk contact-change pushes in the inbox -> targeted reconcile (issue 10).

The callback endpoint (``http/dingtalk_events.py``) only stores what DingTalk pushed. This
job, run by the worker every couple of seconds, takes what was stored, and asks the targeted
reconcile to read just the users and departments those events name and to repair any drift
through the outbox (never by a side door). Events carry ids only (dingtalk-api.md §9).

Echoes of our own writes are expected — DingTalk pushes an event for every change, ours
included — and cost one read each, nothing more: the targeted reconcile finds DingTalk equal
to what we last applied, so nothing is queued and no repair loop starts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from scim_bridge.dingtalk.client import DingTalkClient
from scim_bridge.directory.db import Database
from scim_bridge.directory.dingtalk_inbox import (
    InboxEvent,
    claim_events,
    prune_events,
    release_events,
    settle_events,
)
from scim_bridge.mapping.rules import MappingRules
from scim_bridge.settings import Settings
from scim_bridge.sync.reconcile import reconcile_targeted

log = logging.getLogger("scim_bridge.sync.events")

REPAIRED = "repaired"
FAILED = "failed"
BATCH = 100
#: Runs an event's repair is tried in before it is left to the next full reconcile; a
#: throttled or unreachable DingTalk usually answers again by the next run, 2 s later.
MAX_ATTEMPTS = 3
#: How long handled events are kept for people to read, and how often they are pruned.
RETENTION = timedelta(days=30)
PRUNE_EVERY = timedelta(hours=1)


class TargetedRepair(Protocol):
    """Reads these DingTalk records live and queues the repair of any drift (reconcile)."""

    def __call__(
        self, *, user_ids: Sequence[str] = (), department_ids: Sequence[int] = ()
    ) -> object:
        """Repair what the ids name; raise if DingTalk could not be read."""


@dataclass
class EventJob:
    """The worker's periodic job over the inbox of DingTalk pushes."""

    db: Database
    repair: TargetedRepair
    clock: Callable[[], datetime]
    #: Called after repairs were queued (wakes the translator at once instead of at its poll).
    on_queued: Callable[[], None] | None = None
    batch: int = BATCH
    max_attempts: int = MAX_ATTEMPTS
    retention: timedelta = RETENTION
    _pruned_at: datetime | None = None

    def __call__(self) -> int:
        """Drain what is stored now; return how many events were handled."""
        try:
            handled = self.drain()
            self.prune()
        except Exception:  # the next run tries again; the job must not die with the scheduler
            log.exception("draining DingTalk events failed; the next run tries again")
            return 0
        return handled

    def prune(self) -> int:
        """Delete events handled longer ago than the retention, at most once an hour."""
        now = self.clock()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return 0
        self._pruned_at = now
        with self.db.write() as session:
            return prune_events(session, before=now - self.retention)

    def drain(self) -> int:
        """Handle the stored events, a batch at a time, until none is left.

        One pass over the ids: an event released after a failure waits for the next run
        rather than being retried at once."""
        handled, last_id = 0, 0
        while True:
            with self.db.write() as session:
                events = claim_events(session, now=self.clock(), limit=self.batch, after_id=last_id)
            if not events:
                return handled
            self._repair(events)
            handled += len(events)
            last_id = events[-1].id

    def _repair(self, events: list[InboxEvent]) -> None:
        # Level-triggered, like the translator: ten edits of one person need one read.
        error = self._attempt(events)
        if error is not None and len(events) > 1:
            # Isolate failures per item: one unreadable record must not fail the others.
            for event in events:
                self._record([event], self._attempt([event]))
            return
        self._record(events, error)

    def _attempt(self, events: list[InboxEvent]) -> Exception | None:
        users = sorted({u for e in events for u in e.user_ids})
        depts = sorted({d for e in events for d in e.dept_ids})
        if not users and not depts:
            return None  # an event naming no contact (a role or admin change): nothing to read
        try:
            self.repair(user_ids=users, department_ids=depts)
        except Exception as exc:
            log.warning(
                "targeted reconcile of %d user(s), %d department(s) failed: %s",
                len(users),
                len(depts),
                type(exc).__name__,
            )
            return exc
        return None

    def _record(self, events: list[InboxEvent], error: Exception | None) -> None:
        ids = [e.id for e in events]
        now = self.clock()
        with self.db.write() as session:
            if error is None:
                settle_events(session, ids, outcome=REPAIRED, detail=None, now=now)
            else:
                detail = f"{type(error).__name__}: {error}"[:1000]
                spent = [e.id for e in events if e.attempts + 1 >= self.max_attempts]
                settle_events(session, spent, outcome=FAILED, detail=detail, now=now)
                release_events(session, [i for i in ids if i not in spent], detail=detail)
        if error is None and self.on_queued is not None:
            self.on_queued()


def targeted_reconcile(
    db: Database,
    client: DingTalkClient,
    settings: Settings,
    *,
    rules_of: Callable[[], MappingRules],
    clock: Callable[[], datetime],
) -> TargetedRepair:
    """Return the repair the event job calls: reconcile's targeted entry point, with the
    mapping rules the translator holds at that moment (a reloaded file included)."""

    def repair(*, user_ids: Sequence[str] = (), department_ids: Sequence[int] = ()) -> object:
        return reconcile_targeted(
            db,
            client,
            settings,
            user_ids=user_ids,
            department_ids=department_ids,
            rules=rules_of(),
            clock=clock,
            trigger="event",
        )

    return repair
