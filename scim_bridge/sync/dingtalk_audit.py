"""The DingTalk side of the audit trail: one record per operation the translator carried out.

A record says what the bridge asked DingTalk (the operation, its target, the reason), what
DingTalk answered (outcome, errcode) and how long it took (each HTTP call's API, errcode and
latency, told by the client through ``CallLog``), and which SCIM changes it serves.

**Correlation** (docs/audit.md): the outbox row of the resource being translated keeps
``first_changed_at``, the time of its first change not yet applied, which is the ``at`` of that
change's SCIM audit record (both are the request's clock). So the SCIM records a translation
serves are that resource's records since then, plus the Group writes in that window that
name it as a member (a membership change dirties the member). Nothing is added to the outbox
upsert, the hot path of every SCIM write. The record keeps their ids (``serves``, the newest
``MAX_SERVED``) and, as ``request_id``, the newest one's request id.

Records are inserted unchained, like the SCIM side's; the sequencer chains them.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from scim_bridge.directory.audit import DINGTALK_SIDE, canonical, redact
from scim_bridge.directory.models import AuditRecord, OutboxEntry

#: The ``idp`` of a DingTalk-side record: not an IdP label, the other end of the bridge.
DINGTALK = DINGTALK_SIDE
#: The SCIM records one DingTalk-side record names at most (the newest).
MAX_SERVED = 20
#: The HTTP calls one record lists at most (a directory walk makes hundreds; they are counted).
MAX_CALLS = 20
#: The operations a SCIM write is recorded under: anything else is a DingTalk-side operation.
SCIM_OPERATIONS = ("POST", "PUT", "PATCH", "DELETE")


@dataclass
class CallLog:
    """Collects, per thread, the HTTP calls the DingTalk client made (a ``CallListener``)."""

    _local: threading.local = field(default_factory=threading.local)

    def call_answered(self, api: str, errcode: str, seconds: float) -> None:
        """Note one call of this thread (only while a translation collects them)."""
        calls = getattr(self._local, "calls", None)
        if calls is not None:
            calls.append({"api": api, "errcode": errcode, "ms": round(seconds * 1000.0, 1)})

    def start(self) -> None:
        """Begin collecting this thread's calls."""
        self._local.calls = []

    def take(self) -> list[dict[str, Any]]:
        """Return and forget the calls collected since the last take."""
        calls = getattr(self._local, "calls", None)
        if calls is None:
            return []
        self._local.calls = []
        return list(calls)

    def stop(self) -> None:
        """Stop collecting this thread's calls."""
        self._local.calls = None


def summary(calls: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the calls of one operation: the first ``MAX_CALLS``, their count and latency."""
    out: dict[str, Any] = {"calls": calls[:MAX_CALLS]}
    if len(calls) > MAX_CALLS:
        out["calls_total"] = len(calls)
    out["ms"] = round(sum(float(c["ms"]) for c in calls), 1)
    return out


# The three statements of ``served`` are built once: each translation runs them, and building
# them (and their cache keys) each time cost more CPU than running them (bench/translator_cpu.py).
_SINCE = select(OutboxEntry.first_changed_at).where(
    OutboxEntry.resource_type == bindparam("rtype"), OutboxEntry.resource_id == bindparam("rid")
)
_OWN = (
    select(AuditRecord.id, AuditRecord.request_id)
    .where(
        AuditRecord.operation.in_(SCIM_OPERATIONS),
        AuditRecord.at >= bindparam("since"),
        AuditRecord.resource_type == bindparam("rtype"),
        AuditRecord.resource_id == bindparam("rid"),
    )
    .order_by(AuditRecord.id.desc())
    .limit(MAX_SERVED)
)
#: "/" escapes LIKE's wildcards in the member id, as ``contains(..., autoescape=True)`` would.
_LIKE_ESCAPE = "/"
_AS_MEMBER = (
    select(AuditRecord.id, AuditRecord.request_id)
    .where(
        AuditRecord.operation.in_(SCIM_OPERATIONS),
        AuditRecord.at >= bindparam("since"),
        AuditRecord.resource_type == "Group",
        AuditRecord.detail.like(bindparam("pattern"), escape=_LIKE_ESCAPE),
    )
    .order_by(AuditRecord.id.desc())
    .limit(MAX_SERVED)
)


def _quoted_pattern(resource_id: str) -> str:
    """Return the LIKE pattern of ``"<resource_id>"`` anywhere, its wildcards escaped."""
    escaped = "".join(_LIKE_ESCAPE + c if c in "%_/" else c for c in resource_id)
    return f'%"{escaped}"%'


def served(session: Session, resource_type: str, resource_id: str) -> tuple[list[int], str]:
    """Return the ids of the SCIM records a translation of this resource serves, newest
    ``MAX_SERVED``, and the newest one's request id ("-" when there is none)."""
    since = session.scalar(_SINCE, {"rtype": resource_type, "rid": resource_id})
    if since is None:
        return [], "-"  # not from the outbox (a re-projection inside another translation)
    params = {"since": since, "rtype": resource_type, "rid": resource_id}
    rows = list(session.execute(_OWN, params))
    if resource_type == "User":
        # A Group write that added or removed this person as a member dirtied them too.
        pattern = _quoted_pattern(resource_id)
        rows += list(session.execute(_AS_MEMBER, {"since": since, "pattern": pattern}))
    rows.sort(key=lambda r: r[0])
    rows = rows[-MAX_SERVED:]
    return [int(r[0]) for r in rows], (str(rows[-1][1]) if rows else "-")


def errcode_number(code: str | None) -> int:
    """Return DingTalk's errcode as the record's ``status``: 0 ok, -1 when not a number."""
    if code is None:
        return 0
    try:
        return int(code)
    except ValueError:
        return -1


def dingtalk_record(
    *,
    at: datetime,
    actor: str | None,
    resource_type: str,
    resource_id: str,
    action: str,
    detail: Mapping[str, Any],
    code: str | None,
    served_ids: list[int],
    request_id: str,
) -> dict[str, Any]:
    """Build one DingTalk-side record (unchained; directory/audit.py ``RECORD_COLUMNS``, for
    ``insert_records``); ``detail`` is redacted on the way in."""
    payload = {"dingtalk": redact(dict(detail)), "serves": served_ids}
    return {
        "at": at,
        "actor": (actor or "translator")[:128],
        "idp": DINGTALK,
        "request_id": request_id[:128],
        "client": None,
        "resource_type": resource_type[:16],
        "resource_id": resource_id[:300],
        "operation": action[:16],
        "status": errcode_number(code),
        "detail": canonical(payload),
    }
