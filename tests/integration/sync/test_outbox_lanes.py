"""Priority lanes in the outbox (issue 14, "Leavers first"), on SQLite and PostgreSQL.

A leaver's change goes before edits, and edits before creations and repairs; within a lane the
oldest change goes first. The lane is decided when the change is recorded and only moves up.
"""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from dingtalk_client_fixtures import emulator_client
from sqlalchemy import delete, select

from scim_bridge.bootstrap import build_worker
from scim_bridge.dingtalk.emulator import RunningEmulator
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import DeadLetter, OutboxEntry
from scim_bridge.directory.outbox import Lane, mark_changed
from scim_bridge.monitor.gauges import StoreGauges
from scim_bridge.settings import Settings
from scim_bridge.sync import claims, dlq
from scim_bridge.sync.worker import WorkerConfig

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)
_mobiles = itertools.count(13700000000)


def person(name: str) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": f"{name}@example.com",
        "externalId": name,
        "displayName": name.title(),
        "phoneNumbers": [{"value": f"+86 {next(_mobiles)}", "type": "mobile"}],
    }


def patch(scim: Any, user_id: str, value: dict[str, Any]) -> None:
    body = {"schemas": [PATCH], "Operations": [{"op": "replace", "value": value}]}
    assert scim.patch(f"/Users/{user_id}", body).status_code == 200


def lane_of(database: Database, resource_id: str) -> Lane:
    with database.read() as session:
        row = session.scalar(select(OutboxEntry).where(OutboxEntry.resource_id == resource_id))
        assert row is not None, f"{resource_id} has no outbox row"
        return Lane(row.lane)


def applied(database: Database) -> None:
    """Forget every pending change, as if the translator had applied them all."""
    with database.write() as session:
        session.execute(delete(OutboxEntry))


def test_each_kind_of_scim_change_is_recorded_in_its_lane(scim: Any, database: Database) -> None:
    ada = scim.post("/Users", person("ada")).json["id"]
    assert lane_of(database, ada) is Lane.BULK  # a creation
    applied(database)
    patch(scim, ada, {"title": "Lead"})
    assert lane_of(database, ada) is Lane.UPDATE  # a change to someone who exists
    applied(database)
    patch(scim, ada, {"active": False})
    assert lane_of(database, ada) is Lane.DEPROVISION  # a leaver
    applied(database)
    patch(scim, ada, {"active": True})
    assert lane_of(database, ada) is Lane.UPDATE  # back again: not a leaver
    applied(database)
    group = scim.post("/Groups", {"displayName": "Ops", "members": [{"value": ada}]}).json
    assert lane_of(database, group["id"]) is Lane.BULK
    assert lane_of(database, ada) is Lane.UPDATE  # her department changes
    applied(database)
    assert scim.delete(f"/Users/{ada}").status_code == 204
    assert lane_of(database, ada) is Lane.DEPROVISION


def test_a_more_urgent_change_raises_the_lane_and_a_later_edit_does_not_lower_it(
    scim: Any, database: Database
) -> None:
    bob = scim.post("/Users", person("bob")).json["id"]
    assert lane_of(database, bob) is Lane.BULK
    patch(scim, bob, {"active": False})  # deactivated before the creation was applied
    assert lane_of(database, bob) is Lane.DEPROVISION
    patch(scim, bob, {"title": "Gone"})
    assert lane_of(database, bob) is Lane.DEPROVISION


def test_replays_of_dead_letters_wait_in_the_bulk_lane(database: Database) -> None:
    with database.write() as session:
        session.add(
            DeadLetter(resource_type="User", resource_id="u-dead", reason="bad", created_at=T0)
        )
    with database.write() as session:
        assert dlq.retry(session, None, now=T0, actor="operator") == 1
    assert lane_of(database, "u-dead") is Lane.BULK


def claim(database: Database, *, limit: int, now: datetime) -> list[claims.Claim]:
    with database.write() as session:
        return claims.claim_batch(session, owner="w1", now=now, limit=limit, lease=LEASE)


def test_a_leaver_enqueued_after_500_creations_is_claimed_first(database: Database) -> None:
    with database.write() as session:
        onboarding = [f"new-{i:03d}" for i in range(500)]
        mark_changed(session, "User", onboarding, actor="okta", now=T0, lane=Lane.BULK)
        later = T0 + timedelta(seconds=5)
        mark_changed(session, "User", ["edited"], actor="okta", now=later, lane=Lane.UPDATE)
        last = T0 + timedelta(seconds=9)
        mark_changed(session, "User", ["leaver"], actor="okta", now=last, lane=Lane.DEPROVISION)
    batch = claim(database, limit=4, now=T0 + timedelta(seconds=10))
    assert [c.resource_id for c in batch] == ["leaver", "edited", "new-000", "new-001"]
    assert [c.lane for c in batch] == [Lane.DEPROVISION, Lane.UPDATE, Lane.BULK, Lane.BULK]


def test_within_a_lane_the_oldest_change_goes_first(database: Database) -> None:
    with database.write() as session:
        for rid, seconds in (("c", 3), ("a", 1), ("b", 2)):
            when = T0 + timedelta(seconds=seconds)
            mark_changed(session, "User", [rid], actor="okta", now=when, lane=Lane.UPDATE)
    now = T0 + timedelta(seconds=10)
    # One at a time, as a worker with one free thread takes them: none is passed over.
    taken = [claim(database, limit=1, now=now)[0].resource_id for _ in range(3)]
    assert taken == ["a", "b", "c"]


def test_within_a_lane_a_group_goes_before_the_people_queued_before_it(
    database: Database,
) -> None:
    # A department must exist before people are moved into it.
    with database.write() as session:
        mark_changed(session, "User", ["person"], actor="okta", now=T0, lane=Lane.BULK)
        later = T0 + timedelta(seconds=1)
        mark_changed(session, "Group", ["team"], actor="okta", now=later, lane=Lane.BULK)
    batch = claim(database, limit=2, now=T0 + timedelta(seconds=10))
    assert [(c.resource_type, c.resource_id) for c in batch] == [
        ("Group", "team"),
        ("User", "person"),
    ]


def test_a_worker_busy_with_rows_claims_the_next_ones(database: Database) -> None:
    # Excluded rows (still in flight) are passed over whatever their number: the exclusion
    # list is padded to a few lengths (claims.py), never empty, never cut short.
    with database.write() as session:
        for i in range(40):
            when = T0 + timedelta(seconds=i)
            mark_changed(session, "User", [f"u{i:02d}"], actor="okta", now=when, lane=Lane.BULK)
    now = T0 + timedelta(minutes=5)
    with database.read() as session:
        ids = dict(session.execute(select(OutboxEntry.resource_id, OutboxEntry.id)).all())
    for busy in (0, 1, 16, 17, 33):
        in_flight = [ids[f"u{i:02d}"] for i in range(busy)]
        with database.write() as session:
            batch = claims.claim_batch(
                session, owner="w1", now=now, limit=3, lease=LEASE, exclude=in_flight
            )
            session.rollback()  # leave the rows unclaimed for the next round
        assert [c.resource_id for c in batch] == [f"u{i:02d}" for i in range(busy, busy + 3)]


def test_the_outbox_gauges_count_each_lane(database: Database) -> None:
    with database.write() as session:
        mark_changed(session, "User", ["n1", "n2"], actor="okta", now=T0, lane=Lane.BULK)
        when = T0 + timedelta(seconds=20)
        mark_changed(session, "User", ["gone"], actor="okta", now=when, lane=Lane.DEPROVISION)
    gauges = StoreGauges(database, clock=lambda: T0 + timedelta(seconds=30))
    samples = {
        (metric.name, sample.labels.get("lane")): sample.value
        for metric in gauges.collect()
        for sample in metric.samples
    }
    assert samples[("scim_bridge_outbox_depth", "bulk")] == 2
    assert samples[("scim_bridge_outbox_depth", "deprovision")] == 1
    assert samples[("scim_bridge_outbox_depth", "update")] == 0
    assert samples[("scim_bridge_outbox_oldest_age_seconds", "bulk")] == 30
    assert samples[("scim_bridge_outbox_oldest_age_seconds", "deprovision")] == 10
    assert samples[("scim_bridge_outbox_oldest_age_seconds", "update")] == 0


def test_the_worker_removes_a_leaver_before_the_onboarding_waiting_ahead_of_it(
    scim: Any, settings: Settings, database: Database, emulator: RunningEmulator
) -> None:
    client = emulator_client(emulator)
    # One thread: the order the worker claims in is the order DingTalk sees.
    worker = build_worker(settings, database, client=client, config=WorkerConfig(threads=1))
    try:
        leaver = scim.post("/Users", person("leaver")).json["id"]
        worker.run_until_idle()
        assert "leaver" in emulator.emulator.users()
        for n in range(20):
            scim.post("/Users", person(f"joiner{n:02d}"))
        patch(scim, leaver, {"active": False})  # after the whole onboarding was accepted
        worker.run_until_idle()
    finally:
        client.close()
    writes = [
        c["path"].rsplit("/", 1)[-1]
        for c in emulator.emulator.calls()
        if c["path"] in ("/topapi/v2/user/create", "/topapi/v2/user/delete")
    ]
    assert writes == ["create", "delete", *["create"] * 20]
    assert "leaver" not in emulator.emulator.users()


class HeldPool(ThreadPoolExecutor):
    """Records what the worker hands it and runs nothing, so claimed rows stay in flight."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.handed: list[str] = []

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.handed.append(args[0].resource_id)
        return Future()


def test_one_worker_thread_stays_free_for_a_leaver_during_an_onboarding(
    settings: Settings, database: Database, emulator: RunningEmulator
) -> None:
    client = emulator_client(emulator)
    worker = build_worker(settings, database, client=client, config=WorkerConfig(threads=3))
    past = datetime.now(UTC) - timedelta(minutes=1)
    with database.write() as session:
        onboarding = [f"new-{i}" for i in range(10)]
        mark_changed(session, "User", onboarding, actor="okta", now=past, lane=Lane.BULK)
    pool = HeldPool()
    try:
        worker._dispatch(pool)  # the onboarding takes two of the three threads
        worker.wakeup.set()  # as a commit would: the leavers' thread looks at once
        worker._dispatch(pool)  # and not the third, though eight more creations are due
        assert pool.handed == ["new-0", "new-1"]
        with database.write() as session:
            mark_changed(session, "User", ["leaver"], actor="okta", now=past, lane=Lane.DEPROVISION)
        worker.wakeup.set()  # the commit's wake-up (sync/wakeup.py)
        worker._dispatch(pool)
        assert pool.handed == ["new-0", "new-1", "leaver"]
    finally:
        pool.shutdown()
        client.close()


def test_a_look_for_a_leaver_with_none_due_leaves_the_writers_turn_to_the_api(
    database: Database,
) -> None:
    # A worker whose threads are busy looks for a leaver at every commit of the API; on SQLite
    # a claim takes the one writer's turn, so with nothing due it must not take it at all.
    if database.engine.dialect.name != "sqlite":
        pytest.skip("the writer's turn is SQLite's; PostgreSQL claims rows, not the database")
    with database.write() as session:
        mark_changed(session, "User", ["onboarding"], actor="okta", now=T0, lane=Lane.BULK)
    looked: list[list[claims.Claim]] = []

    def look_for_a_leaver() -> None:
        looked.append(
            claims.claim_due(
                database, owner="w1", now=T0, limit=1, lease=LEASE, max_lane=Lane.DEPROVISION
            )
        )

    with database.write():  # an API request holds the writer's turn throughout
        looker = threading.Thread(target=look_for_a_leaver)
        looker.start()
        looker.join(timeout=30)
        answered_while_held = not looker.is_alive()
    looker.join()

    assert answered_while_held
    assert looked == [[]]
    # With a leaver due, it claims them (after the turn is free).
    with database.write() as session:
        mark_changed(session, "User", ["leaver"], actor="okta", now=T0, lane=Lane.DEPROVISION)
    (leaver,) = claims.claim_due(
        database, owner="w1", now=T0, limit=5, lease=LEASE, max_lane=Lane.DEPROVISION
    )
    assert leaver.resource_id == "leaver"
