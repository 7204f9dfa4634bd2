"""One DingTalk person, one SCIM user: the translator's holds on userids (issue 9).

A SCIM user holds a DingTalk userid through its live link (any state but removed). The store's
partial unique index ``uq_links_live_user_dingtalk_id`` (migration 0005) makes a second live
link to the same person impossible, so a userid is *reserved* on the link before any DingTalk
call creates or adopts that person: two threads or two worker processes racing for one userid
meet the index, and the loser learns who holds it instead of overwriting that person.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from scim_bridge.directory.db import Database
from scim_bridge.directory.models import Link, User
from scim_bridge.directory.prepared import Prepared, integrity_errors
from scim_bridge.errors import LinkConflict

USER, REMOVED = "user", "removed"
#: A user link holding a userid before the person is created or adopted.
PENDING = "pending"
#: Built once (the translator's hot path; bench/translator_cpu.py).
_USER_LINK = select(Link).where(Link.kind == USER, Link.key == bindparam("key"))


def holder_of(session: Session, userid: str, *, other_than: str) -> str | None:
    """Return the SCIM id of the user other than ``other_than`` whose live link holds ``userid``."""
    return session.scalar(
        select(Link.key)
        .where(
            Link.kind == USER,
            Link.dingtalk_id == userid,
            Link.key != other_than,
            Link.state != REMOVED,
        )
        .limit(1)
    )


def _reserve(dialect: str) -> Any:
    """A userid held on a user's link: a new pending link, or the existing one's userid
    replaced (a removed link is live again, pending: the index now counts it)."""
    stmt: Any = pg_insert(Link) if dialect == "postgresql" else sqlite_insert(Link)
    stmt = stmt.values(
        kind=USER,
        key=bindparam("key"),
        dingtalk_id=bindparam("userid"),
        state=PENDING,
        attempts=0,
        updated_at=bindparam("now"),
    )
    return stmt.on_conflict_do_update(
        index_elements=[Link.kind, Link.key],
        set_={
            "dingtalk_id": stmt.excluded.dingtalk_id,
            "updated_at": stmt.excluded.updated_at,
            "state": case((Link.state == REMOVED, PENDING), else_=Link.state),
        },
    )


#: Prepared (directory/prepared.py): once per person created or adopted, in the writer's turn.
_RESERVE = Prepared(_reserve)


def reserve(db: Database, user_id: str, userid: str, *, now: datetime) -> str | None:
    """Hold ``userid`` on this user's link; return the SCIM id of its holder if another has it."""
    try:
        with db.transaction() as cur:
            _RESERVE.execute(cur, key=user_id, userid=userid, now=now)
    except integrity_errors(db.engine.dialect):
        with db.read() as session:
            holder = holder_of(session, userid, other_than=user_id)
        if holder is None:
            raise  # not the one-person-one-link index: a real error, retried as such
        return holder
    return None


def release(db: Database, user_id: str, userid: str, *, before: Link | None, now: datetime) -> None:
    """Give up a reservation no person came of; the link is as it was before ``reserve``."""
    with db.write() as session:
        row = session.scalar(_USER_LINK, {"key": user_id})
        if row is None or row.dingtalk_id != userid or row.snapshot is not None:
            return
        row.dingtalk_id = before.dingtalk_id if before is not None else None
        row.state = before.state if before is not None else PENDING
        row.updated_at = now


def conflict(session: Session, user_id: str, userid: str, holder: str, *, how: str) -> LinkConflict:
    """Return the error that refuses ``userid`` to ``user_id``, naming both SCIM users."""
    who = _who(session, (user_id, holder))
    return LinkConflict(
        f"{who[user_id]} was not linked to DingTalk user {userid} ({how}): that person is "
        f"linked to {who[holder]}; make the two users differ in the IdP",
        userid=userid,
        holder=holder,
    )


def unlink_words(session: Session, user_id: str, userid: str, holder: str) -> str:
    """Say why a removal unlinked ``user_id`` from ``userid`` instead of deleting the person."""
    who = _who(session, (user_id, holder))
    return (
        f"DingTalk user {userid} was not deleted for {who[user_id]}: that person is linked "
        f"to {who[holder]}; only the link was removed"
    )


def _who(session: Session, ids: Iterable[str]) -> dict[str, str]:
    """Name SCIM users by id and userName (a deleted one by id alone)."""
    wanted = list(dict.fromkeys(ids))
    rows = session.execute(select(User.id, User.user_name).where(User.id.in_(wanted)))
    names = {scim_id: user_name for scim_id, user_name in rows}
    return {
        i: f"SCIM user {i} ({names[i]})" if i in names else f"SCIM user {i} (deleted)"
        for i in wanted
    }
