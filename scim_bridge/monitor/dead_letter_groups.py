"""Dead letters grouped by cause, as the console's failures page reads them (issue 13).

A cause is a dead letter's ``code`` and its plain-words ``reason`` together: the translator
writes both from one failure (sync/failures.py), so a hundred people refused for the same
invalid mobile land in one group, and an operator fixes and retries them at once. Each group
is named by a short stable key (a digest of code and reason) that forms and console actions
carry as ``group:<key>``; the worker resolves the key to letter ids when it acts, so letters
that joined the group after the page was drawn are retried too.

The groups are one ``GROUP BY`` over ``dead_letters`` (fast at 10,000 letters); the reason
and fix shown apart come from dingtalk/advice.py (``advice_in``), never a second wording.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from scim_bridge.dingtalk.advice import advice_in
from scim_bridge.directory.models import DeadLetter, User

#: The prefix of an action target naming a group of dead letters ("group:<key>").
GROUP_PREFIX = "group:"
#: Letters shown per page when a group is opened.
PER_PAGE = 50


def group_key(code: str | None, reason: str) -> str:
    """Return the stable key of a cause (its code and plain-words reason).

    The code rides along in hex (URL-safe, whatever DingTalk's code looks like: "88/40000"),
    so a group's page finds its cause among that code's letters only; the digest tells
    apart the causes one code can have (the same errcode, another field's words)."""
    digest = hashlib.sha256(f"{code or ''}\n{reason}".encode()).hexdigest()[:16]
    return f"{(code or '').encode().hex()}-{digest}"


def _code_of(key: str) -> str | None:
    """Return the code a group key carries, or None when the key is not one of ours."""
    hexed, dash, digest = key.partition("-")
    if not dash or len(digest) != 16:
        return None
    try:
        return bytes.fromhex(hexed).decode()
    except ValueError:  # UnicodeDecodeError is one
        return None


def _aware(when: datetime) -> datetime:
    # SQLite hands stored times back naive (they are UTC).
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


@dataclass(frozen=True)
class DeadLetterGroup:
    """Dead letters with one cause: how many, since when, who, why and what fixes it."""

    key: str
    code: str
    reason: str  # the stored plain words, whole
    count: int
    oldest: datetime
    newest: datetime
    samples: tuple[str, ...]  # a few people (display names, else resource ids)
    headline: str  # the reason alone, when the advice is known; else the stored words
    fix: str | None  # the fix alone, when the advice is known

    @property
    def target(self) -> str:
        """Return the console action target naming this group."""
        return f"{GROUP_PREFIX}{self.key}"


@dataclass(frozen=True)
class LetterRow:
    """One dead letter of a group, as the page lists it."""

    id: int
    resource_type: str
    resource_id: str
    name: str
    attempts: int
    created_at: datetime
    detail: str | None


def dead_letter_groups(session: Session) -> list[DeadLetterGroup]:
    """Return every cause with its letters counted, the largest group first."""
    groups = _grouped(session, None)
    groups.sort(key=lambda g: (-g.count, g.oldest, g.key))
    return groups


def find_group(session: Session, key: str) -> DeadLetterGroup | None:
    """Return the group with this key, or None (fixed, retried or dropped since)."""
    code = _code_of(key)
    if code is None:
        return None
    return next((g for g in _grouped(session, _code_is(code)) if g.key == key), None)


def _grouped(session: Session, where: ColumnElement[bool] | None) -> list[DeadLetterGroup]:
    """One GROUP BY over the dead letters (those ``where`` selects), as groups."""
    query = select(
        DeadLetter.code,
        DeadLetter.reason,
        func.count(),
        func.min(DeadLetter.created_at),
        func.max(DeadLetter.created_at),
        # Two sample people per group from the same pass: the first and last by id.
        func.min(DeadLetter.resource_id),
        func.max(DeadLetter.resource_id),
    ).group_by(DeadLetter.code, DeadLetter.reason)
    rows = session.execute(query if where is None else query.where(where)).all()
    names = _names(session, {r[5] for r in rows} | {r[6] for r in rows})
    groups = []
    for code, reason, count, oldest, newest, first, last in rows:
        advice = advice_in(reason, code=code)
        samples = tuple(dict.fromkeys(names.get(i, i) for i in (first, last)))
        groups.append(
            DeadLetterGroup(
                key=group_key(code, reason),
                code=code or "",
                reason=reason,
                count=int(count),
                oldest=_aware(oldest),
                newest=_aware(newest),
                samples=samples,
                headline=advice.reason if advice else reason,
                fix=advice.fix if advice else None,
            )
        )
    return groups


def _code_is(code: str) -> ColumnElement[bool]:
    # A stored empty code and a missing one are the same cause (group_key folds them too).
    if not code:
        return DeadLetter.code.is_(None) | (DeadLetter.code == "")
    return DeadLetter.code == code


def _in_group(group: DeadLetterGroup) -> ColumnElement[bool]:
    return and_(_code_is(group.code), DeadLetter.reason == group.reason)


def letter_ids(session: Session, group: DeadLetterGroup) -> list[int]:
    """Return the ids of every letter of a group now (what the worker retries or drops)."""
    return list(session.scalars(select(DeadLetter.id).where(_in_group(group))))


def group_letters(
    session: Session, group: DeadLetterGroup, *, page: int = 1, per_page: int = PER_PAGE
) -> list[LetterRow]:
    """Return one page of a group's letters, oldest first."""
    query = (
        select(DeadLetter)
        .where(_in_group(group))
        .order_by(DeadLetter.created_at, DeadLetter.id)
        .offset(max(0, page - 1) * per_page)
        .limit(per_page)
    )
    letters = list(session.scalars(query))
    names = _names(session, {d.resource_id for d in letters})
    return [
        LetterRow(
            id=d.id,
            resource_type=d.resource_type,
            resource_id=d.resource_id,
            name=names.get(d.resource_id, ""),
            attempts=d.attempts,
            created_at=_aware(d.created_at),
            detail=d.detail,
        )
        for d in letters
    ]


def _names(session: Session, ids: Iterable[str]) -> dict[str, str]:
    """Display names (else userNames) of the users among ``ids``: one query."""
    wanted = [i for i in ids if i]
    if not wanted:
        return {}
    rows = session.execute(
        select(User.id, User.display_name, User.user_name).where(User.id.in_(wanted))
    )
    return {uid: display or user_name for uid, display, user_name in rows}
