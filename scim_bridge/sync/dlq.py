"""The dead-letter list: changes that could not be projected, until an operator acts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from scim_bridge.directory.models import AuditRecord, DeadLetter
from scim_bridge.directory.outbox import Lane, mark_changed
from scim_bridge.directory.prepared import Cursor, Prepared
from scim_bridge.sync.dingtalk_audit import DINGTALK


def list_dead_letters(session: Session) -> list[DeadLetter]:
    """Return every dead letter, oldest first."""
    return list(session.scalars(select(DeadLetter).order_by(DeadLetter.created_at, DeadLetter.id)))


def get_dead_letter(session: Session, letter_id: int) -> DeadLetter | None:
    """Return one dead letter by id."""
    return session.get(DeadLetter, letter_id)


@dataclass(frozen=True)
class Attempt:
    """One DingTalk-side audit record of a resource, as `dlq show` lists it."""

    at: datetime
    action: str
    outcome: str
    code: str
    reason: str | None


def history(session: Session, letter: DeadLetter, *, limit: int = 20) -> list[Attempt]:
    """Return the latest DingTalk-side audit records of a dead letter's resource, newest first."""
    rows = session.scalars(
        select(AuditRecord)
        .where(
            AuditRecord.idp == DINGTALK,
            AuditRecord.resource_type == letter.resource_type,
            AuditRecord.resource_id == letter.resource_id,
        )
        .order_by(AuditRecord.at.desc(), AuditRecord.id.desc())
        .limit(limit)
    )
    out = []
    for row in rows:
        what = json.loads(row.detail).get("dingtalk") or {}  # {} once erased
        code = str(what.get("errcode") or "")
        out.append(
            Attempt(row.at, row.operation, str(what.get("outcome") or ""), code, what.get("reason"))
        )
    return out


def retry(session: Session, ids: Sequence[int] | None, *, now: datetime, actor: str) -> int:
    """Queue dead letters again (all when ``ids`` is None); return how many."""
    stmt = select(DeadLetter)
    if ids is not None:
        stmt = stmt.where(DeadLetter.id.in_(list(ids)))
    letters = list(session.scalars(stmt))
    for kind in ("Group", "User"):
        mark_changed(
            session,
            kind,
            [d.resource_id for d in letters if d.resource_type == kind],
            actor=actor,
            now=now,
            lane=Lane.BULK,  # a replay is a repair (issue 14): leavers and edits go first
        )
    if letters:
        session.execute(delete(DeadLetter).where(DeadLetter.id.in_([d.id for d in letters])))
    return len(letters)


#: Prepared (directory/prepared.py): every translated change settles (bench/translator_cpu.py).
_SETTLE = Prepared(
    delete(DeadLetter).where(
        DeadLetter.resource_type == bindparam("rtype"), DeadLetter.resource_id == bindparam("rid")
    )
)


def settle(session: Session, resource_type: str, resource_id: str) -> None:
    """settle_on, in the session's transaction."""
    settle_on(Cursor.of(session), resource_type, resource_id)


def settle_on(cur: Cursor, resource_type: str, resource_id: str) -> None:
    """Forget a resource's dead letter once its current state reached DingTalk.

    Projection is level-triggered (design.md): fixing the data in the IdP queues the resource
    again, and its success makes the old failure moot; no `dlq retry` is needed then.
    """
    _SETTLE.execute(cur, rtype=resource_type, rid=resource_id)


def drop(session: Session, ids: Sequence[int]) -> int:
    """Forget dead letters without retrying them; return how many."""
    return len(
        list(
            session.scalars(
                delete(DeadLetter).where(DeadLetter.id.in_(list(ids))).returning(DeadLetter.id)
            )
        )
    )
