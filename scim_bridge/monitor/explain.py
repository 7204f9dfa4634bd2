"""`scim-bridge explain USER`: where one person stands, and why (issue 11; the console's page).

A read model over every place a person's state lives: the store (the SCIM record), the
mapping (what it makes of the record), DingTalk (what it should hold, and what it holds: one
live ``user/get`` through an injected reader), the link, the outbox, the dead-letter list and
the mass-change guard. It ends in one verdict sentence (monitor/verdict.py). Nothing here
writes; a failing live read is reported, never raised.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scim_bridge.dingtalk.advice import advice_for, advice_in
from scim_bridge.directory.audit import DINGTALK_SIDE
from scim_bridge.directory.db import Database
from scim_bridge.directory.mapping_view import DatabaseDirectory
from scim_bridge.directory.models import AuditRecord, DeadLetter, Link, OutboxEntry, User
from scim_bridge.errors import BridgeError, DingTalkError
from scim_bridge.mapping.compare import DEPT_LIST, MANAGER, FieldDiff, user_differences
from scim_bridge.mapping.departments import DepartmentResolver
from scim_bridge.mapping.model import REMOVE, ROOT_DEPT_ID, ROOT_KEY, SKIP
from scim_bridge.mapping.project import managed_fields, project_user
from scim_bridge.mapping.rules import MappingRules
from scim_bridge.monitor import guard_state
from scim_bridge.monitor.explain_model import (
    DeadLetterSection,
    DingTalkSection,
    Explanation,
    GuardSection,
    LinkSection,
    MappingSection,
    PendingSection,
    StoreSection,
)
from scim_bridge.monitor.people import resolve_person
from scim_bridge.monitor.verdict import (
    REQUIRED_WORDS,
    Facts,
    LiveStatus,
    Waiting,
    WaitReason,
    choose_verdict,
)
from scim_bridge.settings import Settings

__all__ = ["Explanation", "Reader", "explain"]

#: The live read: ``client.find_user`` (user/get, dingtalk-api.md §3.4); None when absent.
Reader = Callable[[str], Mapping[str, Any] | None]

#: The outcomes sync/record.py writes for a failed attempt, and why the change then waits.
_WAIT_BY_OUTCOME = {
    "throttled": WaitReason.THROTTLED,
    "paused": WaitReason.GUARD,
    "retry": WaitReason.BACKOFF,
}


def _aware(when: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything is stored in UTC.
    if when is None:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


# --- the sections ------------------------------------------------------------------------------


def _store(row: User | None, scim_id: str) -> StoreSection:
    if row is None:
        return StoreSection(present=False, scim_id=scim_id)
    return StoreSection(
        present=True,
        scim_id=row.id,
        user_name=row.user_name,
        display_name=row.display_name,
        external_id=row.external_id,
        idp=row.idp,
        active=row.active,
        created=_aware(row.created),
        last_modified=_aware(row.last_modified),
        modified_by=row.modified_by,
    )


def _mapping(view: DatabaseDirectory, scim_id: str, rules: MappingRules) -> MappingSection:
    user = view.user(scim_id)
    if user is None:
        return MappingSection(action="", in_scope=False, reason="deleted in the IdP")
    projection = project_user(user, rules, view)
    if projection.action in (SKIP, REMOVE):
        return MappingSection(
            action=projection.action,
            in_scope=False,
            reason=projection.reason,
            userid=projection.userid,
        )
    missing = tuple(f for f in REQUIRED_WORDS if not projection.fields.get(f))
    resolver = DepartmentResolver(rules, view)
    names = []
    for key in projection.department_keys:
        resolver.ensure(key)
        spec = resolver.specs.get(key)
        names.append(spec.name if spec is not None else key)  # the root has no spec
    return MappingSection(
        action=projection.action,
        in_scope=True,
        reason=projection.reason,
        userid=projection.userid,
        fields=dict(projection.fields),
        department_keys=projection.department_keys,
        departments=tuple(names),
        manager_scim_id=projection.manager_scim_id,
        warnings=projection.warnings,
        missing=missing,
    )


def _link(session: Session, kind: str, key: str) -> Link | None:
    return session.scalar(select(Link).where(Link.kind == kind, Link.key == key))


def _should(session: Session, mapping: MappingSection) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Return the desired DingTalk fields (departments and manager resolved), and the unknown."""
    if not mapping.in_scope:
        return {}, ()
    should: dict[str, Any] = dict(mapping.fields)
    unknown: list[str] = []
    dept_ids: set[int] = set()
    for key in mapping.department_keys:
        if key == ROOT_KEY:
            dept_ids.add(ROOT_DEPT_ID)
            continue
        link = _link(session, "department", key)
        if link is None or link.state != "synced" or not link.dingtalk_id:
            unknown.append(DEPT_LIST)  # the translator creates it first (design.md)
            continue
        dept_ids.add(int(link.dingtalk_id))
    should[DEPT_LIST] = sorted(dept_ids) or [ROOT_DEPT_ID]
    manager = None
    if mapping.manager_scim_id:
        held = _link(session, "user", mapping.manager_scim_id)
        # scim-idp-notes §3.3: a manager not in DingTalk yet is set once they are.
        if held is not None and held.state == "synced":
            manager = held.dingtalk_id
    should[MANAGER] = manager
    return should, tuple(dict.fromkeys(unknown))


def _link_section(link: Link | None) -> LinkSection | None:
    if link is None:
        return None
    return LinkSection(
        userid=link.dingtalk_id,
        state=link.state,
        last_synced_at=_aware(link.last_synced_at),
        attempts=link.attempts,
        last_error=link.last_error,
        updated_at=_aware(link.updated_at),
    )


def _why_waiting(session: Session, row: OutboxEntry, scim_id: str, now: datetime) -> WaitReason:
    """Say why a queued change waits: leased, due, or the last failed attempt's outcome."""
    lease_until = _aware(row.lease_expires_at)
    if row.lease_owner and lease_until is not None and lease_until > now:
        return WaitReason.LEASED
    due = _aware(row.available_at)
    if due is None or due <= now:
        return WaitReason.QUEUED
    # The last attempt since this change was queued says why it was put off (sync/record.py).
    detail = session.scalar(
        select(AuditRecord.detail)
        .where(
            AuditRecord.idp == DINGTALK_SIDE,
            AuditRecord.resource_type == "User",
            AuditRecord.resource_id == scim_id,
            AuditRecord.operation == "sync",
            AuditRecord.at >= row.changed_at,
        )
        .order_by(AuditRecord.at.desc(), AuditRecord.id.desc())
        .limit(1)
    )
    outcome = (json.loads(detail).get("dingtalk") or {}).get("outcome") if detail else None
    if outcome in _WAIT_BY_OUTCOME:
        return _WAIT_BY_OUTCOME[outcome]
    return WaitReason.BACKOFF if row.attempts else WaitReason.DELAYED


def _pending(
    session: Session, scim_id: str, settings: Settings, now: datetime
) -> PendingSection | None:
    row = session.scalar(
        select(OutboxEntry).where(
            OutboxEntry.resource_type == "User", OutboxEntry.resource_id == scim_id
        )
    )
    if row is None:
        return None
    return PendingSection(
        seq=row.seq,
        changed_at=_aware(row.changed_at) or now,
        first_changed_at=_aware(row.first_changed_at) or now,
        actor=row.actor,
        attempts=row.attempts,
        max_attempts=settings.sync_max_attempts,
        next_attempt_at=_aware(row.available_at) or now,
        why=_why_waiting(session, row, scim_id, now),
        worker=row.lease_owner,
    )


def _dead_letter(session: Session, scim_id: str) -> DeadLetterSection | None:
    row = session.scalar(
        select(DeadLetter).where(
            DeadLetter.resource_type == "User", DeadLetter.resource_id == scim_id
        )
    )
    if row is None:
        return None
    # dingtalk/advice.py wrote "reason: fix"; show them apart when the words are its own.
    advice = advice_in(row.reason, code=row.code)
    reason, fix = (advice.reason, advice.fix) if advice is not None else (row.reason, "")
    return DeadLetterSection(
        id=row.id,
        reason=reason,
        fix=fix,
        code=row.code,
        detail=row.detail,
        attempts=row.attempts,
        created_at=_aware(row.created_at) or row.created_at,
    )


def _guard(session: Session, scim_id: str) -> GuardSection:
    pause = guard_state.paused(session)
    if pause is None:
        return GuardSection(paused=False)
    return GuardSection(
        paused=True,
        holds_person=guard_state.held_back(session, scim_id),
        token=pause.get("token"),
        reason=pause.get("reason"),
        since=pause.get("since"),
    )


# --- the live read and the comparison -----------------------------------------------------------


def _read_live(
    reader: Reader | None, userid: str | None
) -> tuple[LiveStatus, Mapping[str, Any] | None, str | None]:
    """Read the person in DingTalk: (status, fields, why not); a failure is never raised."""
    if reader is None:
        return LiveStatus.SKIPPED, None, "not read (--no-live): compared with the last applied"
    if not userid:
        return LiveStatus.SKIPPED, None, "the bridge has not placed this person: nothing to read"
    try:
        found = reader(userid)
    except DingTalkError as exc:
        return LiveStatus.FAILED, None, str(advice_for(exc.reason, field=exc.field))
    except BridgeError as exc:  # e.g. DingTalk not configured: our words name the fix
        return LiveStatus.FAILED, None, str(exc)
    except Exception as exc:  # the explanation is still worth having without DingTalk
        return LiveStatus.FAILED, None, f"the read failed ({type(exc).__name__})"
    if found is None:
        return LiveStatus.ABSENT, None, None
    return LiveStatus.READ, dict(found), None


@dataclass(frozen=True)
class _Stored:
    """What the comparison needs from the store, read before DingTalk is (no open transaction)."""

    should: dict[str, Any]
    unknown: tuple[str, ...]
    userid: str | None
    linked: bool
    snapshot: Mapping[str, Any] | None


def _stored(session: Session, mapping: MappingSection, link: Link | None) -> _Stored:
    linked = link is not None and link.state != "removed" and bool(link.dingtalk_id)
    userid = link.dingtalk_id if link is not None and link.dingtalk_id else mapping.userid
    should, unknown = _should(session, mapping)
    snapshot = dict(link.snapshot) if linked and link is not None and link.snapshot else None
    return _Stored(should, unknown, userid, linked, snapshot)


def _dingtalk(
    stored: _Stored, mapping: MappingSection, reader: Reader | None, rules: MappingRules
) -> DingTalkSection:
    # Only a person the bridge placed is read: an unlinked userid may be someone else's.
    live, holds, error = _read_live(reader, stored.userid if stored.linked else None)
    compared, against = "", None
    if live is LiveStatus.READ:
        compared, against = "DingTalk", holds
    elif stored.snapshot is not None:
        compared, against = "last applied", stored.snapshot
    differences: tuple[FieldDiff, ...] = ()
    if against is not None and mapping.in_scope:
        differences = user_differences(
            stored.should, against, managed=managed_fields(rules), unknown=stored.unknown
        )
    return DingTalkSection(
        userid=stored.userid,
        should=stored.should,
        unknown=stored.unknown,
        live=live,
        holds=holds,
        live_error=error,
        compared_with=compared,
        differences=differences,
        last_applied=stored.snapshot,
    )


# --- the whole explanation ----------------------------------------------------------------------


def _reason_only(words: str | None) -> str | None:
    """Keep the reason of advice words (the fix is the bridge's own retry, said elsewhere)."""
    advice = advice_in(words) if words else None
    return advice.reason if advice is not None else words


def _facts(
    mapping: MappingSection,
    store: StoreSection,
    link: LinkSection | None,
    pending: PendingSection | None,
    letter: DeadLetterSection | None,
    guard: GuardSection,
    dingtalk: DingTalkSection,
    now: datetime,
) -> Facts:
    waiting = None
    if pending is not None:
        why = pending.why
        if why is not WaitReason.LEASED and guard.paused and guard.holds_person:
            why = WaitReason.GUARD
        waiting = Waiting(
            why=why,
            seconds=(pending.next_attempt_at - now).total_seconds(),
            attempts=pending.attempts,
            max_attempts=pending.max_attempts,
            last_error=_reason_only(link.last_error if link is not None else None),
        )
    return Facts(
        in_store=store.present,
        action=mapping.action,
        reason=mapping.reason,
        missing=mapping.missing,
        linked=link is not None and link.state != "removed" and bool(link.userid),
        was_removed=link is not None and link.state == "removed",
        waiting=waiting,
        dead_letter=(letter.reason, letter.fix) if letter is not None else None,
        guard_token=guard.token,
        live=dingtalk.live,
        live_error=dingtalk.live_error,
        differences=tuple(d.field for d in dingtalk.differences),
        against_live=dingtalk.compared_with == "DingTalk",
    )


def explain(
    db: Database,
    reader: Reader | None,
    settings: Settings,
    mapping: MappingRules,
    who: str,
    *,
    now: datetime,
) -> Explanation:
    """Explain where the person ``who`` names stands on the way to DingTalk, and why.

    ``reader`` reads one DingTalk person live (``client.find_user``); None skips the read
    and compares with what the bridge last applied instead. Raises UnknownPerson or
    AmbiguousPerson when ``who`` names no one or several people.
    """
    with db.read() as session:
        found = resolve_person(session, who)
        scim_id = found.scim_id
        store = _store(session.get(User, scim_id), scim_id)
        view = DatabaseDirectory(session)
        projected = _mapping(view, scim_id, mapping)
        link_row = _link(session, "user", scim_id)
        link = _link_section(link_row)
        pending = _pending(session, scim_id, settings, now)
        letter = _dead_letter(session, scim_id)
        guard = _guard(session, scim_id)
        stored = _stored(session, projected, link_row)
    # design.md: no network call inside a database transaction.
    dingtalk = _dingtalk(stored, projected, reader, mapping)
    facts = _facts(projected, store, link, pending, letter, guard, dingtalk, now)
    return Explanation(
        asked=who,
        matched_by=found.matched_by,
        store=store,
        mapping=projected,
        dingtalk=dingtalk,
        link=link,
        pending=pending,
        dead_letter=letter,
        guard=guard,
        verdict=choose_verdict(facts),
        at=now,
    )
