"""Record what the translator did: links, last-applied snapshots and audit events.

The events of one translation are collected and written in the transaction that records the
link they concern (one transaction: the link and why it changed); whatever is left is written
when the translation ends. Network calls never happen here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scim_bridge.directory.db import Database
from scim_bridge.directory.models import Link, SyncEvent
from scim_bridge.errors import DingTalkError
from scim_bridge.mapping.departments import group_key
from scim_bridge.sync import person_links
from scim_bridge.sync.failures import failure_words

log = logging.getLogger("scim_bridge.sync")

USER, DEPARTMENT, ROLE, ROLE_GROUP = "user", "department", "role", "role_group"
SYNCED, REMOVED, FAILED, RETRYING = "synced", "removed", "failed", "retrying"


def link_of(session: Session, kind: str, key: str) -> Link | None:
    """Return the link of one resource, or None."""
    return session.scalar(select(Link).where(Link.kind == kind, Link.key == key))


@dataclass
class Recorder:
    """Writes links, snapshots and events; one per translator, shared by its threads."""

    db: Database
    clock: Callable[[], datetime]
    _local: threading.local = field(default_factory=threading.local)

    def save_link(self, kind: str, key: str, dingtalk_id: str, snapshot: Mapping[str, Any]) -> None:
        """Record a resource as synced to ``dingtalk_id`` with its snapshot, events included."""
        now = self.clock()
        events: list[SyncEvent] = getattr(self._local, "events", None) or []
        try:
            with self.db.write() as session:
                session.add_all(events)
                row = link_of(session, kind, key)
                if row is None:
                    row = Link(kind=kind, key=key, attempts=0, updated_at=now)
                    session.add(row)
                row.dingtalk_id = dingtalk_id
                row.snapshot = dict(snapshot)
                row.state = SYNCED
                row.last_error = None
                row.attempts = 0
                row.last_synced_at = row.updated_at = now
        except IntegrityError:
            # One live link per DingTalk person (migration 0005): never retried in a loop.
            with self.db.read() as session:
                holder = person_links.holder_of(session, dingtalk_id, other_than=key)
                if kind != USER or holder is None:
                    raise
                how = "recording the link"
                raise person_links.conflict(session, key, dingtalk_id, holder, how=how) from None
        events.clear()  # written with the link; kept for the end of the translation if not

    def removed(self, kind: str, key: str, *, forget_id: bool, why: str | None = None) -> None:
        """Record a resource as removed from DingTalk (a user keeps its userid unless told)."""
        now = self.clock()
        with self.db.write() as session:
            row = link_of(session, kind, key)
            if row is None:
                return
            row.state, row.snapshot, row.last_error = REMOVED, None, why
            if forget_id:
                row.dingtalk_id = None
            else:
                row.last_synced_at = now
            row.updated_at = now

    def failure(
        self, resource_type: str, resource_id: str, exc: Exception, *, state: str, attempt: int
    ) -> None:
        """Note a failed attempt on the link and in the audit trail."""
        kind = USER if resource_type == "User" else DEPARTMENT
        key = resource_id if kind == USER else group_key(resource_id)
        reason = failure_words(exc)  # what SCIM clients see as sync.lastError: words only
        now = self.clock()
        with self.db.write() as session:
            row = link_of(session, kind, key)
            if row is None:
                row = Link(kind=kind, key=key, state=state, attempts=0, updated_at=now)
                session.add(row)
            if row.state != REMOVED:
                # A removed link stays removed: its userid may be another user's by now.
                row.state = state if row.state != SYNCED or state == FAILED else row.state
            row.last_error = reason
            row.attempts = attempt
            row.updated_at = now
        code = exc.reason if isinstance(exc, DingTalkError) else type(exc).__name__
        outcome = {FAILED: "failed", "throttled": "throttled", "paused": "paused"}.get(
            state, "retry"
        )
        self.event(
            resource_type,
            resource_id,
            "sync",
            None,
            outcome,
            code=code,
            detail=reason,
            attempt=attempt,
        )

    def event(
        self,
        resource_type: str,
        resource_id: str,
        action: str,
        dingtalk_id: str | None,
        outcome: str,
        *,
        fields: Mapping[str, Any] | None = None,
        detail: str | None = None,
        code: str | None = None,
        actor: str | None = None,
        attempt: int = 0,
    ) -> None:
        """Add one audit event: to the translation's, or written at once outside one."""
        log.info(
            "%s %s %s -> %s %s %s",
            action,
            resource_type,
            resource_id,
            dingtalk_id,
            outcome,
            detail or "",
        )
        event = SyncEvent(
            at=self.clock(),
            resource_type=resource_type,
            resource_id=resource_id,
            action=action,
            dingtalk_id=dingtalk_id,
            outcome=outcome,
            code=code,
            detail=detail,
            fields=dict(fields) if fields else None,
            actor=actor,
            attempt=attempt,
        )
        pending = getattr(self._local, "events", None)
        if pending is not None:
            # Inside a translation: written with the link it concerns, one transaction.
            pending.append(event)
            return
        with self.db.write() as session:
            session.add(event)

    @contextmanager
    def translation(self) -> Iterator[None]:
        """Collect the audit events of one translation; whatever is left is written at the end."""
        outer = getattr(self._local, "events", None) is not None
        if not outer:
            self._local.events = []
        try:
            yield
        finally:
            if not outer:
                events, self._local.events = self._local.events, None
                if events:
                    with self.db.write() as session:
                        session.add_all(events)
