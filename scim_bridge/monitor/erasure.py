"""Erasing a person (GDPR art. 17, PDPO DPP2/DPP4): from the store, the audit payloads, and
DingTalk through the normal path, with a receipt.

One transaction (``erase``): the User goes the way an IdP's DELETE takes it (``delete_user``:
row, values, memberships; the outbox row that makes the translator remove them from
DingTalk), their dead letters and guard entries go, and every audit record about them keeps
its place and hash but has its payload replaced by a marker naming the receipt
(``audit.erased_marker``). The chain hashes a payload's digest (``detail_hash``), so the chain
still verifies (docs/audit.md, Erasure). The receipt, and an ``ERASE`` record in the trail,
say who asked, when and what went; the translator's removal fills in DingTalk's answer
(``confirm_removal``, called by sync/record.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, or_, select, text, update
from sqlalchemy.orm import Session

from scim_bridge.directory import audit
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import (
    AuditRecord,
    DeadLetter,
    ErasureReceipt,
    GroupMember,
    GuardRemoval,
    Link,
    User,
    UserValue,
)
from scim_bridge.directory.prepared import Cursor, Prepared
from scim_bridge.directory.rows import Context
from scim_bridge.directory.tokens import Principal
from scim_bridge.directory.users import delete_user
from scim_bridge.errors import UnknownPerson
from scim_bridge.monitor.audit import erased_marker

log = logging.getLogger("scim_bridge.audit")

#: The link kind of a person (sync/record.py: USER), kept as text: monitor/ is below sync/.
USER_LINK = "user"
#: The state of a link whose person is no longer in DingTalk (sync/record.py: REMOVED).
REMOVED = "removed"


@dataclass(frozen=True)
class ErasurePlan:
    """What erasing one person removes, counted before anything is removed."""

    scim_id: str
    in_store: bool
    values: int
    memberships: int
    payloads: int
    dead_letters: int
    dingtalk_userid: str | None
    in_dingtalk: bool

    def lines(self) -> list[str]:
        """Say what will be removed, one item a line."""
        dingtalk = (
            f"the DingTalk account {self.dingtalk_userid} (through the translator)"
            if self.in_dingtalk
            else "nothing in DingTalk (not there now)"
        )
        return [
            f"the User {self.scim_id}" if self.in_store else "no User row (already deleted)",
            f"{self.values} stored value(s) and {self.memberships} group membership(s)",
            f"the payloads of {self.payloads} audit record(s) (their hashes stay)",
            f"{self.dead_letters} dead letter(s)",
            dingtalk,
        ]


def _about(session: Session, scim_id: str) -> Any:
    """The audit records that hold the person's data: theirs, and refusals naming them."""
    # As the detail's JSON text spells them (a quote or backslash is escaped there).
    names = [
        audit.canonical(n)[1:-1]
        for n in session.scalars(select(User.user_name).where(User.id == scim_id))
        if n
    ]
    mine = (AuditRecord.resource_type == "User") & (AuditRecord.resource_id == scim_id)
    refused = [
        AuditRecord.resource_id.is_(None) & AuditRecord.detail.contains(n, autoescape=True)
        for n in names
    ]
    not_erased = AuditRecord.detail.not_like('{"erased":%')
    return or_(mine, *refused) & not_erased


def plan_erasure(session: Session, scim_id: str) -> ErasurePlan:
    """Count what erasing a person removes; raise UnknownPerson if the trail never saw them."""
    in_store = session.get(User, scim_id) is not None
    payloads = int(session.scalar(select(func.count()).where(_about(session, scim_id))) or 0)
    if not in_store and not payloads:
        raise UnknownPerson(
            f"nothing to erase for {scim_id!r}: no User and no audit record holds their data"
        )
    link = session.scalar(select(Link).where(Link.kind == USER_LINK, Link.key == scim_id))

    def count(model: Any, column: Any) -> int:
        return int(session.scalar(select(func.count()).select_from(model).where(column)) or 0)

    return ErasurePlan(
        scim_id=scim_id,
        in_store=in_store,
        values=count(UserValue, UserValue.user_id == scim_id),
        memberships=count(GroupMember, GroupMember.member_id == scim_id),
        payloads=payloads,
        dead_letters=count(
            DeadLetter, (DeadLetter.resource_type == "User") & (DeadLetter.resource_id == scim_id)
        ),
        dingtalk_userid=link.dingtalk_id if link is not None else None,
        in_dingtalk=link is not None and bool(link.dingtalk_id) and link.state != REMOVED,
    )


def erase(database: Database, scim_id: str, *, actor: str, now: datetime) -> int:
    """Erase one person (see the module docstring) in one transaction; return the receipt id."""
    with database.write() as session:
        receipt_id = _erase(session, scim_id, actor=actor, now=now)
    if database.dialect == "sqlite":
        _checkpoint(database)
    return receipt_id


def _checkpoint(database: Database) -> None:
    """Move the WAL into the file and empty it: its old frames still hold the erased rows."""
    with database.engine.connect() as conn:
        busy, _, _ = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
    if busy:
        log.warning(
            "erasure: the SQLite WAL could not be emptied now (a reader held it); the next "
            "checkpoint overwrites the erased rows' old pages"
        )


def _erase(session: Session, scim_id: str, *, actor: str, now: datetime) -> int:
    if session.get_bind().dialect.name == "sqlite":
        # Zero what is deleted or rewritten, instead of leaving it in free pages. PostgreSQL
        # keeps dead row versions until VACUUM (autovacuum): docs/audit.md, Erasure.
        session.execute(text("PRAGMA secure_delete = ON"))
    try:
        return _erase_rows(session, scim_id, actor=actor, now=now)
    finally:
        if session.get_bind().dialect.name == "sqlite":
            session.execute(text("PRAGMA secure_delete = OFF"))  # the pool's other users


def _erase_rows(session: Session, scim_id: str, *, actor: str, now: datetime) -> int:
    plan = plan_erasure(session, scim_id)
    receipt = ErasureReceipt(
        at=now,
        actor=actor[:128],
        scim_id=scim_id,
        dingtalk_userid=plan.dingtalk_userid,
        removed={},
    )
    session.add(receipt)
    session.flush()
    about = _about(session, scim_id)  # before the row goes: it names the userName
    if plan.in_store:
        principal = Principal(
            token_id=0, name=actor[:128], idp=audit.BRIDGE_SIDE, profile="auto", shared=True
        )
        ctx = Context(principal=principal, now=now, request_id=f"erasure-{receipt.id}")
        delete_user(Cursor.of(session), scim_id, ctx)  # the normal path to DingTalk
    erased = session.scalar(select(func.count()).where(about))  # the DELETE's record too
    session.execute(update(AuditRecord).where(about).values(detail=erased_marker(receipt.id)))
    by_resource = (DeadLetter.resource_type == "User") & (DeadLetter.resource_id == scim_id)
    session.execute(delete(DeadLetter).where(by_resource))
    session.execute(delete(GuardRemoval).where(GuardRemoval.scim_id == scim_id))
    # The link keeps the userid the translator removes, not the snapshot of their fields.
    session.execute(
        update(Link)
        .where(Link.kind == USER_LINK, Link.key == scim_id)
        .values(snapshot=None, last_error=None)
    )
    removed = {
        "user": int(plan.in_store),
        "values": plan.values,
        "memberships": plan.memberships,
        "audit_payloads": int(erased or 0),
        "dead_letters": plan.dead_letters,
    }
    receipt.removed = removed
    if not plan.in_dingtalk:
        receipt.dingtalk_confirmed_at = now
        receipt.dingtalk_answer = "not in DingTalk: nothing to remove there"
        session.execute(delete(Link).where(Link.kind == USER_LINK, Link.key == scim_id))
    _record(session, receipt, now=now)
    session.flush()  # while secure_delete is on
    return int(receipt.id)


def _record(session: Session, receipt: ErasureReceipt, *, now: datetime) -> None:
    """Append the erasure to the trail itself: who, when, what (counts only: no data)."""
    session.add(
        AuditRecord(
            at=now,
            actor=receipt.actor,
            idp=audit.BRIDGE_SIDE,
            request_id=f"erasure-{receipt.id}",
            client=None,
            resource_type="User",
            resource_id=receipt.scim_id,
            operation="ERASE",
            status=200,
            detail=audit.canonical({"receipt": receipt.id, "removed": receipt.removed}),
        )
    )


#: Prepared (directory/prepared.py): run in the translator's record of every removal.
_CONFIRM = Prepared(
    update(ErasureReceipt)
    .where(
        ErasureReceipt.scim_id == bindparam("scim_id"),
        ErasureReceipt.dingtalk_confirmed_at.is_(None),
    )
    .values(dingtalk_confirmed_at=bindparam("now"), dingtalk_answer=bindparam("answer"))
)
_FORGET_LINK = Prepared(
    delete(Link).where(Link.kind == USER_LINK, Link.key == bindparam("scim_id"))
)


def confirm_removal(cur: Cursor, scim_id: str, *, answer: str, now: datetime) -> bool:
    """Note DingTalk's confirmation on an open receipt of this person and forget their link
    (the DingTalk userid); return whether a receipt was waiting for it."""
    waiting = _CONFIRM.execute(cur, scim_id=scim_id, now=now, answer=answer[:500]) > 0
    if waiting:
        _FORGET_LINK.execute(cur, scim_id=scim_id)
    return waiting


def receipts(session: Session) -> list[ErasureReceipt]:
    """Return every erasure receipt, oldest first."""
    return list(session.scalars(select(ErasureReceipt).order_by(ErasureReceipt.id)))


def receipt_lines(receipt: ErasureReceipt) -> list[str]:
    """Say what one receipt records, in words."""
    removed = ", ".join(f"{k} {v}" for k, v in sorted(receipt.removed.items()))
    confirmed = (
        f"DingTalk confirmed {receipt.dingtalk_confirmed_at:%Y-%m-%d %H:%M:%S}: "
        f"{receipt.dingtalk_answer}"
        if receipt.dingtalk_confirmed_at is not None
        else "DingTalk: waiting for the translator to remove the person"
    )
    return [
        f"erasure receipt {receipt.id}: User {receipt.scim_id}"
        + (f" (DingTalk {receipt.dingtalk_userid})" if receipt.dingtalk_userid else ""),
        f"asked by {receipt.actor} at {receipt.at:%Y-%m-%d %H:%M:%S} UTC",
        f"removed: {removed}",
        confirmed,
    ]
