"""Record what the translator did: links, last-applied snapshots and audit records.

Every DingTalk operation becomes a DingTalk-side audit record (``dingtalk_audit.py``: API
calls, errcode, latency, and the SCIM changes it serves). The records of one translation are
collected and written in the transaction that records the link they concern (one transaction:
the link and why it changed); whatever is left is written when the translation ends. Network
calls never happen here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scim_bridge.directory.db import Database
from scim_bridge.directory.models import AuditRecord, Link
from scim_bridge.errors import DingTalkError
from scim_bridge.mapping.departments import group_key
from scim_bridge.monitor.erasure import confirm_removal
from scim_bridge.sync import person_links
from scim_bridge.sync.decide import jsonable
from scim_bridge.sync.dingtalk_audit import CallLog, dingtalk_record, served, summary
from scim_bridge.sync.failures import failure_words

log = logging.getLogger("scim_bridge.sync")

USER, DEPARTMENT, ROLE, ROLE_GROUP = "user", "department", "role", "role_group"
SYNCED, REMOVED, FAILED, RETRYING = "synced", "removed", "failed", "retrying"
#: The recorded actions after which a person is no longer in DingTalk through this link.
REMOVALS = ("delete", "unlink")


#: Built once: the translator reads a link several times per change, and building the
#: statement (and its cache key) each time cost more CPU than running it (bench/translator_cpu.py).
_LINK_OF = select(Link).where(Link.kind == bindparam("kind"), Link.key == bindparam("key"))


def link_of(session: Session, kind: str, key: str) -> Link | None:
    """Return the link of one resource, or None."""
    return session.scalar(_LINK_OF, {"kind": kind, "key": key})


@dataclass
class Recorder:
    """Writes links, snapshots and audit records; one per translator, shared by its threads.

    ``calls`` is told about every DingTalk request (``DingTalkClient.listen``)."""

    db: Database
    clock: Callable[[], datetime]
    calls: CallLog = field(default_factory=CallLog)
    _local: threading.local = field(default_factory=threading.local)

    def save_link(self, kind: str, key: str, dingtalk_id: str, snapshot: Mapping[str, Any]) -> None:
        """Record a resource as synced to ``dingtalk_id`` with its snapshot, events included."""
        now = self.clock()
        events: list[_Event] = getattr(self._local, "events", None) or []
        self._read_served(events)  # before the writer's turn: reads need none
        try:
            with self.db.write() as session:
                session.add_all(self._records(session, events))
                row = link_of(session, kind, key)
                if row is None:
                    row = Link(kind=kind, key=key, attempts=0, updated_at=now)
                    session.add(row)
                row.dingtalk_id = dingtalk_id
                # Plain JSON: the mapping hands out read-only maps (custom member fields).
                row.snapshot = jsonable(snapshot)
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
        """Note a failed attempt on the link and in the audit trail (with the calls that failed)."""
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
        """Add one DingTalk-side audit record: to the translation's, or written at once."""
        log.info(
            "%s %s %s -> %s %s %s",
            action,
            resource_type,
            resource_id,
            dingtalk_id,
            outcome,
            detail or "",
        )
        what: dict[str, Any] = {
            "target": dingtalk_id,
            "outcome": outcome,
            "errcode": code or "0",
            "reason": detail,
            "attempt": attempt,
        }
        if fields:
            what["fields"] = dict(fields)
        pending = getattr(self._local, "events", None)
        calls = self.calls.take() if pending is not None else self._failed_calls()
        what.update(summary(calls))
        event = _Event(self.clock(), actor, resource_type, resource_id, action, what, code)
        if pending is not None:
            # Inside a translation: written with the link it concerns, one transaction.
            pending.append(event)
            return
        # Outside a translation: a failure, linked to what the failed translation served.
        self._local.served = getattr(self._local, "failed_served", None) or {}
        self._local.failed_served = None
        with self.db.write() as session:
            session.add_all(self._records(session, [event], root=(resource_type, resource_id)))

    def _failed_calls(self) -> list[dict[str, Any]]:
        calls = getattr(self._local, "failed_calls", None) or []
        self._local.failed_calls = None
        return list(calls)

    def _read_served(self, events: list[_Event], *, root: tuple[str, str] | None = None) -> None:
        """Read which SCIM changes the events serve, in a read transaction of its own.

        Issue 14: read inside the write that records them, these queries held SQLite's one
        writer's turn, which the API's writes wait for, for most of the link's transaction."""
        root = root or getattr(self._local, "root", None)
        cache: dict[tuple[str, str], tuple[list[int], str]] = getattr(self._local, "served", {})
        self._local.served = cache
        missing = {root or (e.resource_type, e.resource_id) for e in events} - cache.keys()
        if missing:
            with self.db.read() as session:
                for key in missing:
                    cache[key] = served(session, *key)

    def _records(
        self, session: Session, events: list[_Event], *, root: tuple[str, str] | None = None
    ) -> list[AuditRecord]:
        """Turn events into records linked to the SCIM changes the translation serves."""
        root = root or getattr(self._local, "root", None)
        cache: dict[tuple[str, str], tuple[list[int], str]] = getattr(self._local, "served", {})
        out = []
        for e in events:
            key = root or (e.resource_type, e.resource_id)
            if key not in cache:
                cache[key] = served(session, *key)
            ids, request_id = cache[key]
            if e.resource_type == "User" and e.action in REMOVALS:
                # An erasure waits for DingTalk's word that the person is gone (issue 11).
                said = f"{e.action} of {e.detail.get('target')}: {e.detail.get('reason') or 'ok'}"
                confirm_removal(session, e.resource_id, answer=said, now=e.at)
            out.append(
                dingtalk_record(
                    at=e.at,
                    actor=e.actor,
                    resource_type=e.resource_type,
                    resource_id=e.resource_id,
                    action=e.action,
                    detail=e.detail,
                    code=e.code,
                    served_ids=ids,
                    request_id=request_id,
                )
            )
        return out

    @contextmanager
    def translation(
        self, resource_type: str | None = None, resource_id: str | None = None
    ) -> Iterator[None]:
        """Collect the audit records of one translation of a resource (the outbox row's:
        the records are linked to its SCIM changes); whatever is left is written at the end."""
        outer = getattr(self._local, "events", None) is not None
        if not outer:
            self._local.events = []
            self._local.served = {}
            self._local.failed_calls = self._local.failed_served = None
            have_root = resource_type is not None and resource_id is not None
            self._local.root = (resource_type, resource_id) if have_root else None
            self.calls.start()
        try:
            yield
        except BaseException:
            if not outer:
                # The calls of the operation that failed belong to its failure record, as do
                # the SCIM changes it served (read now: a dead letter settles the outbox row).
                self._local.failed_calls = self.calls.take()
                root = self._local.root
                if root is not None and root not in self._local.served:
                    with self.db.read() as session:
                        self._local.served[root] = served(session, *root)
                self._local.failed_served = self._local.served
            raise
        finally:
            if not outer:
                events, self._local.events = self._local.events, None
                calls = self.calls.take()
                self.calls.stop()
                if calls:  # calls no operation accounted for: reads that decided nothing
                    what = {"outcome": "ok", "errcode": "0", **summary(calls)}
                    rtype, rid = self._local.root or ("-", "-")
                    events.append(_Event(self.clock(), None, rtype, rid, "read", what, None))
                if events:
                    self._read_served(events)
                    with self.db.write() as session:
                        session.add_all(self._records(session, events))
                self._local.root = None


@dataclass(frozen=True)
class _Event:
    """One DingTalk-side operation, waiting to be written with its translation's link."""

    at: datetime
    actor: str | None
    resource_type: str
    resource_id: str
    action: str
    detail: dict[str, Any]
    code: str | None
