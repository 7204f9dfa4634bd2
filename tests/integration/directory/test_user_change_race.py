"""A User change that races another change of the same user loses neither (issue 14).

On SQLite a PATCH or PUT is worked out from a snapshot before the writer's turn, and written
only if the row is still at the version it read; on PostgreSQL the row is locked first. Here
a second request commits its change of the same user while the first is between its read
and its write (from the first's ``check_user`` hook, which runs there): both changes must be
in the row, each with its own version and audit record, on both stores.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from scim_bridge.directory import users
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import AuditRecord, User
from scim_bridge.directory.rows import Context
from scim_bridge.directory.tokens import Principal

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def context(check_user: Callable[[Mapping[str, Any]], None] | None = None) -> Context:
    return Context(principal=Principal(1, "idp", "idp", "auto"), now=NOW, check_user=check_user)


def replace(path: str, value: str) -> dict[str, Any]:
    return {"schemas": [PATCH_URN], "Operations": [{"op": "replace", "path": path, "value": value}]}


def create(database: Database) -> str:
    with database.transaction() as cur:
        row = users.create_user(cur, {"schemas": [USER_URN], "userName": "ann"}, context())
    return row.id


def racing(database: Database, uid: str) -> tuple[Callable[[Mapping[str, Any]], None], Any]:
    """A check_user hook that, the first time it runs, has another request change the user's
    displayName. On SQLite nothing holds the other request up, and the hook waits for its
    commit; on PostgreSQL it waits for the first request's row lock (and commits after it),
    so the hook only gives it a moment to get there: the order is the same either way."""
    done = threading.Event()

    def other() -> None:
        with database.transaction() as cur:
            users.patch_user(cur, uid, replace("displayName", "Ann Other"), context())
        done.set()

    thread = threading.Thread(target=other)
    patience = 30.0 if database.dialect == "sqlite" else 0.5

    def hook(_doc: Mapping[str, Any]) -> None:
        if not thread.is_alive() and not done.is_set():
            thread.start()
            assert done.wait(patience) or database.dialect != "sqlite"

    return hook, thread


@pytest.mark.parametrize(
    ("write", "body"),
    [
        (users.patch_user, replace("title", "Lead")),
        (users.replace_user, {"schemas": [USER_URN], "userName": "ann", "title": "Lead"}),
    ],
    ids=["PATCH", "PUT"],
)
def test_a_change_racing_another_keeps_both(
    database: Database, write: Any, body: dict[str, Any]
) -> None:
    uid = create(database)
    hook, thread = racing(database, uid)
    with database.transaction() as cur:
        written = write(cur, uid, body, context(hook))
    thread.join(timeout=30)
    assert not thread.is_alive()

    with database.read() as session:
        row = session.get(User, uid)
        assert row is not None
        records = session.scalars(
            select(AuditRecord).where(AuditRecord.resource_id == uid).order_by(AuditRecord.id)
        ).all()
    # SQLite: the other request commits while this one works from its snapshot, so this one
    # is written second, from the row the other left. PostgreSQL: this one holds the row lock,
    # so the other waits and is written second, on top of this one.
    ours_last = database.dialect == "sqlite"
    ours = "PATCH" if write is users.patch_user else "PUT"
    assert row.version == 3  # created, then the two changes
    assert written.version == (3 if ours_last else 2)
    assert row.data.get("title") == "Lead"
    # Only a PUT written last drops the displayName (it replaces the whole document).
    dropped = ours == "PUT" and ours_last
    assert row.data.get("displayName") == (None if dropped else "Ann Other")
    operations = [r.operation for r in records]
    changes = [json.loads(r.detail)["changes"] for r in records]
    assert operations == (["POST", "PATCH", ours] if ours_last else ["POST", ours, "PATCH"])
    other, mine = (changes[1], changes[2]) if ours_last else (changes[2], changes[1])
    assert other == {"displayName": [None, "Ann Other"]}
    assert mine["title"] == [None, "Lead"]
    # Each change saw the one before it: the second's diff starts from the first's result.
    if ours_last and ours == "PUT":
        assert mine["displayName"] == ["Ann Other", None]


def test_a_change_nobody_races_is_written_once(database: Database) -> None:
    uid = create(database)
    with database.transaction() as cur:
        written = users.patch_user(cur, uid, replace("active", "false"), context())
    with database.read() as session:
        row = session.get(User, uid)
        assert row is not None
        operations = session.scalars(
            select(AuditRecord.operation).where(AuditRecord.resource_id == uid)
        ).all()
    assert (row.version, row.active, written.version) == (2, False, 2)
    assert operations == ["POST", "PATCH"]
