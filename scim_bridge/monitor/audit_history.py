"""One person's timeline in the audit trail: the IdP's requests, then DingTalk's answers.

The read model of `scim-bridge audit history USER` (and of the console): a person named by
SCIM id, userName or DingTalk userid; their SCIM records, the Group writes that added or
removed them, and the DingTalk-side records that served any of those requests (their
``request_id``, sync/dingtalk_audit.py), oldest first.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import literal, or_, select
from sqlalchemy.orm import Session

from scim_bridge.directory.audit import BRIDGE_SIDE, DINGTALK_SIDE
from scim_bridge.directory.models import AuditRecord
from scim_bridge.monitor.audit_chain import stamp
from scim_bridge.monitor.people import resolve_person

DINGTALK, BRIDGE = DINGTALK_SIDE, BRIDGE_SIDE
#: The most records one timeline shows (the newest are kept).
MAX_ENTRIES = 5000


@dataclass(frozen=True)
class Entry:
    """One line of a timeline."""

    at: datetime
    record: int
    side: str  # "idp" | "dingtalk" | "bridge"
    actor: str
    request_id: str
    resource: str
    operation: str
    status: int
    summary: str
    detail: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        """Return the entry as JSON-ready values."""
        return {
            "at": stamp(self.at),
            "record": self.record,
            "side": self.side,
            "actor": self.actor,
            "request_id": self.request_id,
            "resource": self.resource,
            "operation": self.operation,
            "status": self.status,
            "summary": self.summary,
            "detail": self.detail,
        }


def resolve(session: Session, who: str) -> str:
    """Return the SCIM id a person is named by (SCIM id, userName or DingTalk userid), also
    one only the audit trail still knows; raise UnknownPerson or AmbiguousPerson otherwise."""

    def in_the_trail(scim_id: str) -> bool:
        held = select(AuditRecord.id).where(AuditRecord.resource_id == scim_id).limit(1)
        return session.scalar(held) is not None

    return resolve_person(session, who, remembered=in_the_trail).scim_id


def _own(scim_id: str) -> Any:
    """The records of the person as a resource, and the Group writes that name them."""
    return or_(
        (AuditRecord.resource_type == "User") & (AuditRecord.resource_id == scim_id),
        (AuditRecord.resource_type == "Group")
        & AuditRecord.idp.not_in((DINGTALK, BRIDGE))
        & AuditRecord.detail.contains(f'"{scim_id}"', autoescape=True),
    )


def timeline(session: Session, scim_id: str) -> list[Entry]:
    """Return one person's records, oldest first (at most MAX_ENTRIES, the newest)."""
    own = list(session.scalars(select(AuditRecord).where(_own(scim_id))))
    requests = {r.request_id for r in own if r.idp not in (DINGTALK, BRIDGE)} - {"-"}
    served: list[AuditRecord] = []
    ids = {r.id for r in own}
    for chunk in _chunks(sorted(requests), 500):
        served += session.scalars(
            select(AuditRecord).where(
                # A literal, not a parameter: it is what lets either planner use the
                # partial index ix_audit_records_request_id (idp = '(dingtalk)' only).
                AuditRecord.idp == literal(DINGTALK, literal_execute=True),
                AuditRecord.request_id.in_(chunk),
            )
        )
    rows = own + [r for r in served if r.id not in ids]
    rows.sort(key=lambda r: (stamp(r.at), r.id))
    return [_entry(r) for r in rows[-MAX_ENTRIES:]]


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _entry(record: AuditRecord) -> Entry:
    detail = json.loads(record.detail)
    side = {DINGTALK: "dingtalk", BRIDGE: "bridge"}.get(record.idp, "idp")
    return Entry(
        at=record.at,
        record=record.id,
        side=side,
        actor=record.actor,
        request_id=record.request_id,
        resource=f"{record.resource_type} {record.resource_id or '-'}",
        operation=record.operation,
        status=record.status,
        summary=summarise(side, record.operation, record.status, detail),
        detail=detail,
    )


def summarise(side: str, operation: str, status: int, detail: dict[str, Any]) -> str:
    """Return one line of words for a record (the table's last column)."""
    if "erased" in detail:
        return f"payload erased (receipt {detail['erased'].get('receipt')})"
    if side == "dingtalk":
        dt = detail.get("dingtalk") or {}
        said = f"{dt.get('outcome')} (errcode {dt.get('errcode')}"
        said += f", {len(dt.get('calls') or [])} call(s), {dt.get('ms', 0)} ms)"
        target = f"{dt.get('target')} " if dt.get("target") else ""
        fields = ", ".join(sorted(dt.get("fields") or {}))
        why = dt.get("reason") or ""
        return " ".join(p for p in (f"{operation} {target}{said}", fields, why) if p)
    if side == "bridge":
        removed = detail.get("removed") or {}
        counts = ", ".join(f"{k} {v}" for k, v in sorted(removed.items()))
        return f"{operation}: receipt {detail.get('receipt')}" + (
            f", removed {counts}" if counts else ""
        )
    if "error" in detail:
        return f"refused {status}: {detail['error'].get('detail')}"
    changes = detail.get("changes") or {}
    return f"{operation} {status}: " + (", ".join(sorted(changes)) or "no change")
