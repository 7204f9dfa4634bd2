"""A user's groups and sync state, read in one statement for a plain GET or filter, say exactly
what the two separate reads say: each sync state, and only the groups the caller's IdP sees,
ordered by name."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from scim_bridge.directory.db import Database
from scim_bridge.directory.documents import user_extras
from scim_bridge.directory.models import DeadLetter, Link, OutboxEntry
from scim_bridge.directory.sync_state import sync_states
from scim_bridge.directory.users import groups_of
from scim_bridge.scim.schema import DINGTALK_USER

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def make_people(client: Any, prefix: str, n: int) -> list[str]:
    ids = []
    for i in range(n):
        body = {"schemas": [USER], "userName": f"{prefix}{i}@example.com"}
        answer = client.post("/Users", body)
        assert answer.status_code == 201, answer.get_json()
        ids.append(answer.get_json()["id"])
    return ids


def make_group(client: Any, name: str, members: list[str]) -> str:
    body = {"schemas": [GROUP], "displayName": name, "members": [{"value": m} for m in members]}
    answer = client.post("/Groups", body)
    assert answer.status_code == 201, answer.get_json()
    return str(answer.get_json()["id"])


def test_one_statement_says_what_the_two_reads_say(scim_as: Any, database: Database) -> None:
    okta, entra = scim_as("okta", "okta"), scim_as("entra", "entra")
    people = make_people(okta, "o", 5)
    guests = make_people(entra, "e", 1)
    # Names out of creation order, so the order is the names'.
    make_group(okta, "zeta", people[:3])
    make_group(okta, "Alpha", people[:2])
    make_group(okta, "mid", [people[0]])
    make_group(entra, "entra-only", guests)
    with database.write() as session:
        session.query(OutboxEntry).delete()
        # 0: synced; 1: a change waits after a failure; 2: dead-lettered; 3: removed;
        # 4: nothing yet. Only 1 and 2 have a change still to do.
        links = [("synced", None), ("retrying", "DingTalk said 60011"), ("failed", None)]
        links.append(("removed", None))
        for i, (state, error) in enumerate(links):
            session.add(
                Link(
                    kind="user",
                    key=people[i],
                    dingtalk_id=f"dt{i}",
                    state=state,
                    last_error=error,
                    last_synced_at=NOW if state == "synced" else None,
                    updated_at=NOW,
                )
            )
        session.add(
            OutboxEntry(
                resource_type="User",
                resource_id=people[1],
                changed_at=NOW,
                first_changed_at=NOW,
                available_at=NOW,
                lane=1,
            )
        )
        session.add(
            DeadLetter(
                resource_type="User",
                resource_id=people[2],
                reason="mobile taken",
                created_at=NOW,
            )
        )
    ids = people + guests
    for scope in ("okta", "entra", None):
        with database.reader() as reader:
            groups, states = user_extras(reader, ids, scope=scope)
            expected_groups = groups_of(reader, ids, scope=scope)
            expected_states = sync_states(reader, "User", ids)
        assert {k: v for k, v in groups.items() if v} == dict(expected_groups)
        assert states == {i: {DINGTALK_USER: {"sync": s}} for i, s in expected_states.items()}
    # What those say, so a change that breaks both the same way still fails here.
    with database.reader() as reader:
        groups, states = user_extras(reader, ids, scope="okta")
    assert [name for _gid, name in groups[people[0]]] == ["Alpha", "mid", "zeta"]
    assert people[3] not in groups and guests[0] not in groups
    sync = [states[i][DINGTALK_USER]["sync"] for i in ids]
    assert [s["state"] for s in sync] == [
        "synced",
        "retrying",
        "failed",
        "synced",
        "pending",
        "pending",
    ]
    assert sync[0]["dingtalkId"] == "dt0" and sync[0]["lastSyncedAt"].startswith("2026-12-07")
    assert sync[1]["lastError"] == "DingTalk said 60011"
    assert sync[2]["lastError"] == "mobile taken"
    with database.reader() as reader:
        groups, _states = user_extras(reader, guests, scope="entra")
    assert [name for _gid, name in groups[guests[0]]] == ["entra-only"]
