"""The console's audit search and its CSV export (issue 13), over the redacted trail.

Filters: actor (a token's name or ``console:<account>``, by prefix), IdP, person (a SCIM id,
userName or DingTalk userid: their User records, both sides), operation, DingTalk errcode and
a time range. Pages go newest first by keyset (``id < before``), so page 400 costs what page 1
does. The export streams the same filters oldest first through a server-side cursor
(``yield_per``), so a trail of any size leaves in constant memory.

The trail holds no secret to begin with: directory/audit.py redacts passwords and every
attribute the schemas mark writeOnly before a record is written, and a token is recorded by
its name, never its value (docs/audit.md). The export writes the stored text as it is.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from scim_bridge.directory.audit import BRIDGE_SIDE, DINGTALK_SIDE
from scim_bridge.directory.models import AuditRecord
from scim_bridge.errors import AmbiguousPerson, BadRequest, UnknownPerson
from scim_bridge.monitor.audit import EXPORT_COLUMNS, STREAM_BATCH
from scim_bridge.monitor.audit_chain import stamp
from scim_bridge.monitor.audit_history import resolve, summarise

#: Records per page of the search.
PAGE_SIZE = 50
#: Longest filter value accepted (the columns are at most 300 characters).
MAX_FILTER = 200
#: Rows written to the CSV buffer before it is sent on.
CSV_CHUNK = 200
#: A cell a spreadsheet would run as a formula starts with one of these (OWASP, CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class AuditFilter:
    """What the search asks for; every field is optional (None: any)."""

    actor: str | None = None
    idp: str | None = None
    person: str | None = None
    operation: str | None = None
    errcode: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def as_args(self) -> dict[str, str]:
        """Return the filter as the query string it came from (for paging and the export)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = stamp(value) if isinstance(value, datetime) else str(value)
        return out


@dataclass(frozen=True)
class AuditRow:
    """One record as the search lists it."""

    id: int
    at: str
    actor: str
    idp: str
    resource: str
    operation: str
    status: int
    summary: str
    request_id: str


@dataclass(frozen=True)
class AuditPage:
    """A page of records, newest first, and the id the next page starts before."""

    rows: list[AuditRow]
    next_before: int | None


def _time(name: str, text: str, *, end: bool) -> datetime:
    """Parse a time filter: a date (a whole day) or an ISO 8601 time; naive means UTC."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day + timedelta(days=1) if end else day, time(), UTC)
            return moment
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(
            f"{name} {text!r} is not a date or time; use e.g. 2026-12-07 or 2026-12-07T09:30"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_filter(args: Mapping[str, str]) -> AuditFilter:
    """Read the filter from a query string; a bad value is a 400 naming the field and fix."""
    values: dict[str, Any] = {}
    for name in ("actor", "idp", "person", "operation", "errcode"):
        text = (args.get(name) or "").strip()
        if len(text) > MAX_FILTER:
            raise BadRequest(f"{name} is longer than {MAX_FILTER} characters")
        values[name] = text or None
    if values["errcode"] is not None and not values["errcode"].lstrip("-").isdigit():
        raise BadRequest(f"errcode {values['errcode']!r} is not a number; use e.g. 60121")
    for name, end in (("since", False), ("until", True)):
        text = (args.get(name) or "").strip()
        values[name] = _time(name, text, end=end) if text else None
    found = AuditFilter(**values)
    if found.since and found.until and found.since >= found.until:
        raise BadRequest("since must be before until")
    return found


def _filtered(session: Session, f: AuditFilter) -> Select[AuditRecord]:
    """The records the filter selects (an unknown person selects none: nothing to show)."""
    stmt = select(AuditRecord)
    if f.actor:
        stmt = stmt.where(AuditRecord.actor.startswith(f.actor, autoescape=True))
    if f.idp:
        stmt = stmt.where(AuditRecord.idp == f.idp)
    if f.person:
        try:
            scim_id = resolve(session, f.person)
        except (UnknownPerson, AmbiguousPerson) as exc:
            raise BadRequest(f"person: {exc}") from None
        # ix_audit_records_resource: the person's own records, from the IdP and DingTalk.
        stmt = stmt.where(AuditRecord.resource_type == "User", AuditRecord.resource_id == scim_id)
    if f.operation:
        # HTTP methods are recorded upper-case, the bridge's own operations lower-case.
        op = f.operation.upper() if f.operation.isalpha() and len(f.operation) <= 6 else None
        wanted = {f.operation, op} - {None}
        stmt = stmt.where(AuditRecord.operation.in_(wanted))
    if f.errcode:
        # sync/dingtalk_audit.py: a DingTalk-side record's status is DingTalk's errcode.
        stmt = stmt.where(AuditRecord.idp == DINGTALK_SIDE, AuditRecord.status == int(f.errcode))
    if f.since:
        stmt = stmt.where(AuditRecord.at >= f.since)
    if f.until:
        stmt = stmt.where(AuditRecord.at < f.until)
    return stmt


def search(session: Session, f: AuditFilter, *, before: int | None = None) -> AuditPage:
    """Return one page of the records the filter selects, newest first."""
    stmt = _filtered(session, f)
    if before is not None:
        stmt = stmt.where(AuditRecord.id < before)
    found = list(session.scalars(stmt.order_by(AuditRecord.id.desc()).limit(PAGE_SIZE + 1)))
    rows = [_row(r) for r in found[:PAGE_SIZE]]
    return AuditPage(rows, rows[-1].id if len(found) > PAGE_SIZE else None)


def _row(record: AuditRecord) -> AuditRow:
    detail = json.loads(record.detail)
    side = {DINGTALK_SIDE: "dingtalk", BRIDGE_SIDE: "bridge"}.get(record.idp, "idp")
    return AuditRow(
        id=record.id,
        at=stamp(record.at),
        actor=record.actor,
        idp=record.idp,
        resource=f"{record.resource_type} {record.resource_id or '-'}",
        operation=record.operation,
        status=record.status,
        summary=summarise(side, record.operation, record.status, detail),
        request_id=record.request_id,
    )


def _cell(value: Any) -> Any:
    """Keep a spreadsheet from running a cell as a formula (it is shown as text instead)."""
    if isinstance(value, str) and len(value) > 1 and value.startswith(FORMULA_START):
        return "'" + value
    return value


def export_csv(session: Session, f: AuditFilter) -> Iterator[str]:
    """Yield the CSV export of the records the filter selects, oldest first, in chunks.

    The columns are those of `scim-bridge audit export` (monitor/audit.py); the caller keeps
    ``session`` open until the generator is exhausted or closed."""
    stmt = _filtered(session, f).order_by(AuditRecord.id)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    result = session.scalars(stmt.execution_options(yield_per=STREAM_BATCH))
    try:
        for count, record in enumerate(result, start=1):
            row = {c: getattr(record, c) for c in EXPORT_COLUMNS} | {"at": stamp(record.at)}
            writer.writerow([_cell(row[c]) for c in EXPORT_COLUMNS])
            if count % CSV_CHUNK == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
    finally:
        result.close()
    yield buffer.getvalue()


def check_filter(session: Session, f: AuditFilter) -> None:
    """Raise the 400 a filter would give (an unknown person) before an export starts streaming."""
    _filtered(session, f)
