"""A Group member PATCH costs what it changes, its answer included (issue 14).

Per profile: Okta, Entra and strict answer 204 (RFC 7644 §3.5.2 allows it); the generic
profile answers 200 with the group but not its member list. Whoever names ``attributes``
gets 200 with exactly those, members included when asked.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from isolation_support import client_for, created, group, patch, token, user
from sqlalchemy import event, text

from scim_bridge.directory import member_rows
from scim_bridge.directory.db import Database


def add_member(uid: str) -> dict[str, Any]:
    return patch({"op": "add", "path": "members", "value": [{"value": uid}]})


def setup(app: Any, database: Database, profile: str, size: int = 3) -> tuple[Any, str, str]:
    """A client of the profile, a group of ``size`` members and a user not yet in it."""
    client = client_for(app, token(database, f"t-{profile}", profile=profile))
    members = [created(client.post("/Users", user(f"m{i}@example.com"))) for i in range(size)]
    gid = created(client.post("/Groups", group("Engineering", members)))
    newcomer = created(client.post("/Users", user("new@example.com")))
    return client, gid, newcomer


def members_now(client: Any, gid: str) -> set[str]:
    response = client.get(f"/Groups/{gid}")
    return {m["value"] for m in response.get_json().get("members") or []}


@pytest.mark.parametrize("profile", ["okta", "entra", "strict"])
def test_a_member_patch_answers_204_for_okta_entra_and_strict(
    app: Any, database: Database, profile: str
) -> None:
    client, gid, newcomer = setup(app, database, profile)
    response = client.patch(f"/Groups/{gid}", add_member(newcomer))
    assert response.status_code == 204
    assert response.get_data() == b""
    assert response.headers["ETag"]
    assert newcomer in members_now(client, gid)


def test_the_generic_profile_answers_200_with_the_group_but_not_its_members(
    app: Any, database: Database
) -> None:
    client, gid, newcomer = setup(app, database, "auto")
    response = client.patch(f"/Groups/{gid}", add_member(newcomer))
    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == gid
    assert body["displayName"] == "Engineering"
    assert "members" not in body
    assert response.headers["ETag"] == body["meta"]["version"]
    assert len(members_now(client, gid)) == 4


@pytest.mark.parametrize("profile", ["auto", "okta", "entra", "strict"])
def test_attributes_members_brings_the_member_list_back_on_every_profile(
    app: Any, database: Database, profile: str
) -> None:
    client, gid, newcomer = setup(app, database, profile)
    asked = client.patch(f"/Groups/{gid}?attributes=members", add_member(newcomer))
    assert asked.status_code == 200
    assert newcomer in {m["value"] for m in asked.get_json()["members"]}
    assert len(asked.get_json()["members"]) == 4
    other = client.patch(
        f"/Groups/{gid}?attributes=displayName",
        patch({"op": "remove", "path": f'members[value eq "{newcomer}"]'}),
    )
    assert other.status_code == 200
    assert other.get_json()["displayName"] == "Engineering"
    assert "members" not in other.get_json()


@contextmanager
def statements(database: Database) -> Iterator[list[str]]:
    """Record the SQL the engine runs (Session statements: a Group PATCH runs on a Session)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, sql: str, *_rest: Any) -> None:
        seen.append(" ".join(sql.split()))

    event.listen(database.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", record)


@pytest.mark.parametrize("profile", ["auto", "okta"])
def test_a_member_patch_never_reads_the_whole_member_list(
    app: Any, database: Database, profile: str
) -> None:
    client, gid, newcomer = setup(app, database, profile, size=5)
    with statements(database) as seen:
        added = client.patch(f"/Groups/{gid}", add_member(newcomer))
        removed = client.patch(
            f"/Groups/{gid}", patch({"op": "remove", "path": f'members[value eq "{newcomer}"]'})
        )
    assert added.status_code in (200, 204)
    assert removed.status_code in (200, 204)
    reads = [sql for sql in seen if "FROM group_members" in sql and sql.startswith("SELECT")]
    assert reads, "the PATCH is expected to look up the members it names"
    # Every read of the membership table is bounded by the ids the PATCH named (PostgreSQL:
    # a key probe per id, joined from unnest of them).
    for sql in reads:
        assert any(bound in sql for bound in BY_THE_IDS), sql


BY_THE_IDS = ("group_members.member_id IN", "group_members.member_id = wanted.id")


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


LITERAL = {"literal_binds": True}


def explain_lookup(session: Any, gid: str, ids: list[str]) -> Any:
    """Which of ``ids`` are members already (a member PATCH's add)."""
    probe = member_rows.probe_by_key(gid, ids, "okta")
    sql = str(probe.compile(dialect=session.get_bind().dialect, compile_kwargs=LITERAL))
    return session.execute(text(f"EXPLAIN (FORMAT JSON) {sql}")).scalar_one()


def explain_removal(session: Any, gid: str, ids: list[str]) -> Any:
    """Removing one member (a member PATCH's remove, a PUT that drops members)."""
    sql = str(member_rows.REMOVE_BY_KEY.compile(dialect=session.get_bind().dialect))
    explained = session.connection().exec_driver_sql(
        f"EXPLAIN (FORMAT JSON) {sql}", {"gid": gid, "mid": ids[0]}
    )
    return explained.scalar_one()


@pytest.mark.parametrize("explain", [explain_lookup, explain_removal], ids=["look-up", "removal"])
def test_postgresql_finds_members_by_key_while_its_statistics_lag(
    app: Any, database: Database, explain: Any
) -> None:
    if database.dialect != "postgresql":
        pytest.skip("the planner and its statistics are PostgreSQL's")
    _client, gid, _newcomer = setup(app, database, "okta", size=300)
    with database.read() as session:
        ids = [r[0] for r in session.execute(text("SELECT id FROM users LIMIT 50"))]
        # Never analyzed since the group grew, as after a bulk load: the plan must not
        # depend on the statistics knowing how large the group is.
        (plan,) = explain(session, gid, ids)
    scans = [
        n
        for n in plan_nodes(plan["Plan"])
        if n.get("Relation Name") == "group_members" and n["Node Type"] != "ModifyTable"
    ]
    assert scans and all(n["Node Type"] == "Index Scan" for n in scans), scans
    assert all("member_id" in n["Index Cond"] for n in scans), scans
