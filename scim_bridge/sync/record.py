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
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from scim_bridge.directory.audit import insert_records
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import Link
from scim_bridge.directory.prepared import Cursor, Prepared, integrity_errors
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


def _save_link(dialect: str) -> Any:
    """A link synced: inserted, or the existing one (any state) brought up to date."""
    stmt: Any = pg_insert(Link) if dialect == "postgresql" else sqlite_insert(Link)
    stmt = stmt.values(
        kind=bindparam("kind"),
        key=bindparam("key"),
        dingtalk_id=bindparam("dingtalk_id"),
        snapshot=bindparam("snapshot"),
        state=SYNCED,
        last_error=None,
        attempts=0,
        last_synced_at=bindparam("now"),
        updated_at=bindparam("now"),
    )
    synced = ("dingtalk_id", "snapshot", "state", "last_error", "attempts", "last_synced_at")
    return stmt.on_conflict_do_update(
        index_elements=[Link.kind, Link.key],
        set_={**{c: stmt.excluded[c] for c in synced}, "updated_at": stmt.excluded.updated_at},
    )


#: Prepared (directory/prepared.py): one per change the translator applies.
_SAVE_LINK = Prepared(_save_link)


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
        # Issue 14: everything but the writes is done before the transaction, which on SQLite
        # holds the one writer's turn the API's writes wait for.
        records, removals = self._records(events)
        link = {
            "kind": kind,
            "key": key,
            "dingtalk_id": dingtalk_id,
            # Plain JSON: the mapping hands out read-only maps (custom member fields).
            "snapshot": jsonable(snapshot),
            "now": now,
        }
        try:
            with self.db.transaction() as cur:
                self._write(cur, records, removals)
                _SAVE_LINK.execute(cur, **link)
        except integrity_errors(self.db.engine.dialect):
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
        records, removals = self._records([event], root=(resource_type, resource_id))
        with self.db.transaction() as cur:
            self._write(cur, records, removals)

    def _failed_calls(self) -> list[dict[str, Any]]:
        calls = getattr(self._local, "failed_calls", None) or []
        self._local.failed_calls = None
        return list(calls)

    def _records(
        self, events: list[_Event], *, root: tuple[str, str] | None = None
    ) -> tuple[list[dict[str, Any]], list[_Event]]:
        """Turn events into records linked to the SCIM changes the translation serves; return
        them and the removals of people among the events (erasure receipts wait for those).

        Which changes they serve is read here, in a read transaction of its own: read inside
        the write that records them, those queries held SQLite's writer's turn (issue 14)."""
        root = root or getattr(self._local, "root", None)
        cache: dict[tuple[str, str], tuple[list[int], str]] = getattr(self._local, "served", {})
        self._local.served = cache
        missing = {root or (e.resource_type, e.resource_id) for e in events} - cache.keys()
        if missing:
            with self.db.read() as session:
                for key in missing:
                    cache[key] = served(session, *key)
        records = []
        for e in events:
            ids, request_id = cache[root or (e.resource_type, e.resource_id)]
            records.append(
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
        removals = [e for e in events if e.resource_type == "User" and e.action in REMOVALS]
        return records, removals

    @staticmethod
    def _write(cur: Cursor, records: list[dict[str, Any]], removals: list[_Event]) -> None:
        """Insert the records; an erasure waits for DingTalk's word that the person is gone
        (issue 11): a removal confirms it."""
        insert_records(cur, records)
        for e in removals:
            said = f"{e.action} of {e.detail.get('target')}: {e.detail.get('reason') or 'ok'}"
            confirm_removal(cur, e.resource_id, answer=said, now=e.at)

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
                    records, removals = self._records(events)
                    with self.db.transaction() as cur:
                        self._write(cur, records, removals)
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
