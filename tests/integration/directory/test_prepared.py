"""Prepared statements on the pooled DBAPI connection behave as the ORM would, on both backends;
the SQLite writer's turn is taken at a write's first statement, not when it opens."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, insert, select

from scim_bridge.directory import prepared
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import Link, Token
from scim_bridge.directory.prepared import Cursor, Prepared, one

WHEN = datetime(2026, 11, 24, 8, 30, 15, 123000, tzinfo=UTC)

_LINK_BY_KEY = Prepared(
    select(Link.key, Link.snapshot, Link.last_synced_at, Link.attempts).where(
        Link.kind == "user", Link.key == bindparam("key")
    )
)
_LINKS_IN = Prepared(
    select(Link.key).where(Link.key.in_(bindparam("keys", expanding=True))).order_by(Link.key),
    expanding="keys",
)
_INSERT_LINK = Prepared(
    insert(Link).values(
        kind=bindparam("kind"),
        key=bindparam("key"),
        state="synced",
        snapshot=bindparam("snapshot"),
        attempts=0,
        last_synced_at=bindparam("at"),
        updated_at=bindparam("at"),
    )
)


def _links(database: Database, count: int, kind: str = "user") -> None:
    rows = [
        {"kind": kind, "key": f"k{i:04d}", "snapshot": {"n": i, "名": "钉"}, "at": WHEN}
        for i in range(count)
    ]
    with database.write() as session:
        _INSERT_LINK.execute_many(Cursor.of(session), rows)


def test_rows_come_back_converted_as_the_orm_would(database: Database) -> None:
    _links(database, 3)
    _links(database, 1, kind="department")  # same key, other kind: the literal "user" binds
    with database.reader() as reader:
        key, snapshot, synced, attempts = one(_LINK_BY_KEY.rows(reader, key="k0002")) or ()
        missing = _LINK_BY_KEY.rows(reader, key="nobody")
    with database.read() as session:
        orm = session.scalars(select(Link).where(Link.kind == "user", Link.key == "k0002")).one()
    assert (key, snapshot, attempts) == ("k0002", {"n": 2, "名": "钉"}, 0)
    assert synced == orm.last_synced_at  # same type and value as the ORM gives
    assert synced.replace(tzinfo=UTC) == WHEN
    assert missing == []


def test_in_lists_longer_than_one_statement_are_chunked(database: Database) -> None:
    count = prepared.MAX_IN_LIST + 37
    _links(database, count)
    wanted = [f"k{i:04d}" for i in range(count)] + ["absent"]
    with database.reader() as reader:
        found = [key for (key,) in _LINKS_IN.rows(reader, keys=wanted)]
        few = [key for (key,) in _LINKS_IN.rows(reader, keys=["k0003", "k0001"])]
    assert sorted(found) == wanted[:-1]
    assert few == ["k0001", "k0003"]


def test_a_session_cursor_sees_the_sessions_unflushed_work_only_after_flush(
    database: Database,
) -> None:
    by_name = Prepared(select(Token.name).where(Token.name == bindparam("name")))
    with database.write() as session:
        session.add(Token(name="t", token_hash="h" * 64, prefix="scb_", idp="t", created_at=WHEN))
        session.flush()
        # Same connection and transaction as the session: the flushed row is visible.
        assert by_name.rows(Cursor.of(session), name="t") == [("t",)]
        assert Cursor.of(session) is Cursor.of(session)
    with database.reader() as reader:
        assert by_name.rows(reader, name="t") == [("t",)]


def test_writes_through_a_session_cursor_roll_back_with_the_session(database: Database) -> None:
    with pytest.raises(RuntimeError), database.write() as session:
        _INSERT_LINK.execute(Cursor.of(session), kind="user", key="gone", snapshot=None, at=WHEN)
        raise RuntimeError("the request failed after writing")
    with database.reader() as reader:
        assert _LINK_BY_KEY.rows(reader, key="gone") == []


@contextmanager
def _second_writer(database: Database, how: str) -> Iterator[Callable[[str], None]]:
    """A write transaction, through a Session or without one; yields "insert a link"."""
    if how == "session":
        with database.write() as session:
            yield lambda key: _INSERT_LINK.execute(
                Cursor.of(session), kind="user", key=key, snapshot=None, at=WHEN
            )
    else:
        with database.transaction() as cur:
            yield lambda key: _INSERT_LINK.execute(
                cur, kind="user", key=key, snapshot=None, at=WHEN
            )


@pytest.mark.parametrize("how", ["session", "transaction"])
def test_a_sqlite_write_takes_the_writers_turn_at_its_first_statement(
    database: Database, how: str
) -> None:
    if database.dialect != "sqlite":
        pytest.skip("the writer's turn is how SQLite's single writer is queued")
    inside = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def slow_writer() -> None:
        with database.write() as session:
            _INSERT_LINK.execute(Cursor.of(session), kind="user", key="a", snapshot=None, at=WHEN)
            inside.set()
            release.wait(5)
            order.append("first committed")

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert inside.wait(5)
    with _second_writer(database, how) as insert:
        # Opened while the first writer holds the turn: had opening waited for it, "opened"
        # would only come after "first committed" (the holder is released below, not before).
        order.append("opened")
        threading.Timer(0.3, release.set).start()
        # ...the first statement waits until the holder commits.
        insert("b")
        order.append("second wrote")
    thread.join(5)
    assert order == ["opened", "first committed", "second wrote"]
    with database.reader() as reader:
        assert [k for (k,) in _LINKS_IN.rows(reader, keys=["a", "b"])] == ["a", "b"]


def test_a_session_free_transaction_commits_or_rolls_back_as_a_whole(
    database: Database,
) -> None:
    with database.transaction() as cur:
        _INSERT_LINK.execute(cur, kind="user", key="kept", snapshot={"a": 1}, at=WHEN)
        _INSERT_LINK.execute(cur, kind="user", key="kept too", snapshot=None, at=WHEN)
    with pytest.raises(RuntimeError), database.transaction() as cur:
        _INSERT_LINK.execute(cur, kind="user", key="dropped", snapshot=None, at=WHEN)
        raise RuntimeError("the request failed after writing")
    with database.transaction():
        pass  # no statement: nothing begun, nothing to commit
    with database.reader() as reader:
        keys = [k for (k,) in _LINKS_IN.rows(reader, keys=["kept", "kept too", "dropped"])]
    assert keys == ["kept", "kept too"]
