"""The console's people and group search (issue 13): indexed lookups only, one page at a time.

An operator types whatever they have at hand: a name, a userName, an e-mail, a mobile number,
a DingTalk userid or a SCIM id. Each key is one index lookup with a LIMIT (an equality or a
prefix range on an indexed, lower-cased column), never a scan of the whole directory, so the
page answers as fast with 100,000 people as with ten. The hits of every key are merged, each
person once, in the order of the keys (exact identifiers first).

A prefix is looked up as the range ``key >= q AND key < q⁺`` (``q⁺``: q with its last
character incremented), which every B-tree index serves, plus a ``LIKE 'q%'`` that keeps only
true prefixes. In a database whose collation is byte-wise (SQLite, PostgreSQL with ``C`` or
``C.UTF-8``) the range holds every prefix match; under a linguistic collation a prefix with
punctuation may miss some (the exact value is always found by its equality lookup).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scim_bridge.directory.models import Group, GroupMember, Link, User, UserValue

#: People per page, and the deepest page the search pages to (offset LIMIT stays cheap).
PAGE_SIZE = 25
MAX_OFFSET = 1000
#: Groups shown beside the people.
GROUP_LIMIT = 20
#: Longest query looked up (the indexed columns hold at most 512 characters).
MAX_QUERY = 200
#: How a mobile number may be stored before the digits typed (scim-idp-notes: "+86 138…").
MOBILE_PREFIXES = ("", "+86 ", "+86", "+86-", "86")


@dataclass(frozen=True)
class PersonHit:
    """One person a search found, and by which key."""

    scim_id: str
    user_name: str | None
    display_name: str | None
    active: bool | None
    idp: str | None
    userid: str | None
    link_state: str | None
    matched_by: str


@dataclass(frozen=True)
class GroupHit:
    """One group a search found, with its member count."""

    scim_id: str
    display_name: str
    members: int


@dataclass(frozen=True)
class SearchPage:
    """One page of a search: the people, the groups, and where the next page starts."""

    query: str
    offset: int
    people: list[PersonHit]
    groups: list[GroupHit]
    more: bool


def _upper_bound(prefix: str) -> str:
    """Return the smallest string greater than every string starting with ``prefix``."""
    last = min(ord(prefix[-1]) + 1, 0x10FFFF)
    return prefix[:-1] + chr(last)


def _prefix(column: Any, prefix: str) -> Any:
    """An index-served prefix predicate on ``column`` (see the module's docstring)."""
    return (
        (column >= prefix)
        & (column < _upper_bound(prefix))
        & column.startswith(prefix, autoescape=True)
    )


def _ids(session: Session, stmt: Any, limit: int) -> list[str]:
    return [str(v) for v in session.scalars(stmt.limit(limit)) if v is not None]


def _lookups(session: Session, q: str, limit: int) -> Iterable[tuple[str, list[str]]]:
    """Yield (key, SCIM ids) for each way ``q`` may name people, exact identifiers first."""
    key = q.lower()
    yield "SCIM id", _ids(session, select(User.id).where(User.id == q), 1)
    userid_found = _ids(
        session,
        select(Link.key)
        .where(Link.kind == "user", _prefix(Link.dingtalk_id, q))
        .order_by(Link.dingtalk_id),
        limit,
    )
    yield "DingTalk userid", userid_found
    yield (
        "userName",
        _ids(
            session,
            select(User.id).where(_prefix(User.user_name_key, key)).order_by(User.user_name_key),
            limit,
        ),
    )
    yield "e-mail", _values(session, "emails", [key], limit)
    digits = key.replace(" ", "")
    if digits.lstrip("+").isdigit():
        variants = [p + digits.lstrip("+") for p in MOBILE_PREFIXES] + [key]
        yield "mobile", _values(session, "phoneNumbers", variants, limit)
    yield (
        "name",
        _ids(
            session,
            select(User.id)
            .where(_prefix(User.display_name_key, key))
            .order_by(User.display_name_key),
            limit,
        ),
    )


def _values(session: Session, attr: str, prefixes: list[str], limit: int) -> list[str]:
    """Return users with a multi-valued attribute (emails, phoneNumbers) starting so."""
    found: list[str] = []
    for prefix in dict.fromkeys(prefixes):
        stmt = (
            select(UserValue.user_id)
            .where(UserValue.attr == attr, _prefix(UserValue.value_key, prefix))
            .order_by(UserValue.value_key)  # the index's own order: the LIMIT stops early
        )
        found += _ids(session, stmt, limit)
    return found


def search_people(session: Session, query: str, *, offset: int = 0) -> SearchPage:
    """Return one page of the people (and groups) ``query`` names; every lookup is indexed."""
    q = query.strip()[:MAX_QUERY]
    offset = max(0, min(offset, MAX_OFFSET))
    want = offset + PAGE_SIZE + 1
    matched: dict[str, str] = {}
    if q:
        for how, ids in _lookups(session, q, want):
            for scim_id in ids:
                matched.setdefault(scim_id, how)
    else:
        everyone = select(User.id).order_by(User.user_name_key)
        matched = dict.fromkeys(_ids(session, everyone, want), "everyone")
    chosen = list(matched.items())[offset : offset + PAGE_SIZE + 1]
    people = _hits(session, chosen[:PAGE_SIZE])
    return SearchPage(q, offset, people, search_groups(session, q), len(chosen) > PAGE_SIZE)


def _hits(session: Session, chosen: list[tuple[str, str]]) -> list[PersonHit]:
    ids = [scim_id for scim_id, _ in chosen]
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    held = select(Link).where(Link.kind == "user", Link.key.in_(ids))
    links = {link.key: link for link in session.scalars(held)} if ids else {}
    hits = []
    for scim_id, how in chosen:
        user, link = users.get(scim_id), links.get(scim_id)
        hits.append(
            PersonHit(
                scim_id=scim_id,
                user_name=user.user_name if user is not None else None,
                display_name=user.display_name if user is not None else None,
                active=user.active if user is not None else None,
                idp=user.idp if user is not None else None,
                userid=link.dingtalk_id if link is not None else None,
                link_state=link.state if link is not None else None,
                matched_by=how,
            )
        )
    return hits


def search_groups(session: Session, query: str) -> list[GroupHit]:
    """Return the groups whose name starts with ``query`` (all, by name, when it is empty)."""
    stmt = select(Group.id, Group.display_name).order_by(Group.display_name_key)
    if query:
        stmt = stmt.where(_prefix(Group.display_name_key, query.lower()))
    found = list(session.execute(stmt.limit(GROUP_LIMIT)))
    if not found:
        return []
    counts = dict(
        session.execute(
            select(GroupMember.group_id, func.count())
            .where(GroupMember.group_id.in_([g for g, _ in found]))
            .group_by(GroupMember.group_id)
        ).all()
    )
    return [GroupHit(g, name, int(counts.get(g, 0))) for g, name in found]


def contacts(session: Session, scim_id: str) -> dict[str, list[str]]:
    """Return a person's e-mails and phone numbers as the IdP sent them (the SCIM record)."""
    rows = session.execute(
        select(UserValue.attr, UserValue.value)
        .where(UserValue.user_id == scim_id, UserValue.attr.in_(("emails", "phoneNumbers")))
        .order_by(UserValue.attr, UserValue.position)
    )
    out: dict[str, list[str]] = {"emails": [], "phoneNumbers": []}
    for attr, value in rows:
        if value:
            out[attr].append(value)
    return out
