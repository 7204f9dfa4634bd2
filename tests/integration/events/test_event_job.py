"""The worker's event job drains stored pushes into targeted repairs, isolating failures."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from scim_bridge.directory.db import Database
from scim_bridge.directory.dingtalk_inbox import pending_count, store_event
from scim_bridge.directory.models import DingTalkEvent
from scim_bridge.sync.events import FAILED, REPAIRED, EventJob

NOW = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)


def clock() -> datetime:
    return NOW


class RecordingRepair:
    """A targeted repair that records what it was asked for, failing for the ids it is told."""

    def __init__(self, fail_for: Sequence[str] = ()) -> None:
        self.asked: list[tuple[list[str], list[int]]] = []
        self.fail_for = set(fail_for)

    def __call__(
        self, *, user_ids: Sequence[str] = (), department_ids: Sequence[int] = ()
    ) -> object:
        self.asked.append((list(user_ids), list(department_ids)))
        if self.fail_for.intersection(user_ids):
            raise RuntimeError("DingTalk could not be read")
        return None


def store(
    database: Database,
    kind: str,
    nonce: str,
    *,
    users: Sequence[str] = (),
    depts: Sequence[int] = (),
) -> None:
    with database.write() as session:
        store_event(
            session,
            event_type=kind,
            event_id=None,
            user_ids=list(users),
            dept_ids=list(depts),
            nonce=nonce,
            signed_at="1796605200000",
            now=NOW,
        )


def outcomes(database: Database) -> list[tuple[str | None, str | None]]:
    with database.read() as session:
        rows = session.scalars(select(DingTalkEvent).order_by(DingTalkEvent.id))
        return [(r.outcome, r.detail) for r in rows]


def test_events_are_drained_into_one_targeted_repair(database: Database) -> None:
    store(database, "user_modify_org", "a", users=["alice"])
    store(database, "user_modify_org", "b", users=["alice", "bob"])
    store(database, "org_dept_modify", "c", depts=[500000002])
    repair = RecordingRepair()
    woken: list[bool] = []
    job = EventJob(db=database, repair=repair, clock=clock, on_queued=lambda: woken.append(True))
    assert job() == 3
    # Level-triggered: alice edited twice is read once.
    assert repair.asked == [(["alice", "bob"], [500000002])]
    assert outcomes(database) == [(REPAIRED, None)] * 3
    assert woken == [True]
    with database.read() as session:
        assert pending_count(session) == 0
    assert job() == 0  # nothing left: no second repair
    assert len(repair.asked) == 1


def test_a_failing_record_does_not_fail_the_others(database: Database) -> None:
    store(database, "user_modify_org", "a", users=["alice"])
    store(database, "user_leave_org", "b", users=["broken"])
    store(database, "user_add_org", "c", users=["carol"])
    repair = RecordingRepair(fail_for=["broken"])
    assert EventJob(db=database, repair=repair, clock=clock)() == 3
    # The batch failed, then each event was tried on its own.
    assert repair.asked[0] == (["alice", "broken", "carol"], [])
    assert repair.asked[1:] == [(["alice"], []), (["broken"], []), (["carol"], [])]
    got = outcomes(database)
    assert [o for o, _ in got] == [REPAIRED, "retrying", REPAIRED]
    assert got[1][1] == "RuntimeError: DingTalk could not be read"


def test_a_failed_repair_is_retried_by_later_runs_then_given_up(database: Database) -> None:
    store(database, "user_modify_org", "a", users=["broken"])
    repair = RecordingRepair(fail_for=["broken"])
    job = EventJob(db=database, repair=repair, clock=clock, max_attempts=3)
    # Each run tries once (no retry within a run); the third failure is final.
    assert [job(), job(), job(), job()] == [1, 1, 1, 0]
    assert len(repair.asked) == 3
    assert outcomes(database) == [(FAILED, "RuntimeError: DingTalk could not be read")]
    with database.read() as session:
        assert pending_count(session) == 0


def test_a_repair_that_works_on_retry_is_settled(database: Database) -> None:
    store(database, "user_modify_org", "a", users=["flaky"])
    repair = RecordingRepair(fail_for=["flaky"])
    job = EventJob(db=database, repair=repair, clock=clock)
    assert job() == 1
    assert outcomes(database)[0][0] == "retrying"
    repair.fail_for.clear()  # DingTalk answers again
    assert job() == 1
    assert outcomes(database) == [(REPAIRED, None)]


def test_a_claimed_event_is_not_taken_twice(database: Database) -> None:
    store(database, "user_modify_org", "a", users=["alice"])
    first, second = RecordingRepair(), RecordingRepair()
    EventJob(db=database, repair=first, clock=clock)()
    EventJob(db=database, repair=second, clock=clock)()
    assert first.asked == [(["alice"], [])]
    assert second.asked == []


def test_handled_events_are_pruned_after_the_retention(database: Database) -> None:
    store(database, "user_modify_org", "a", users=["alice"])
    store(database, "user_modify_org", "b", users=["bob"])
    now = [NOW]
    job = EventJob(db=database, repair=RecordingRepair(), clock=lambda: now[0])
    assert job() == 2
    store(database, "user_modify_org", "c", users=["carol"])  # not handled yet: kept
    now[0] = NOW + timedelta(days=31)
    assert job.prune() == 2
    assert job.prune() == 0  # at most once an hour
    with database.read() as session:
        assert pending_count(session) == 1


def test_an_event_naming_no_contact_reads_nothing(database: Database) -> None:
    store(database, "label_conf_add", "a")
    repair = RecordingRepair()
    assert EventJob(db=database, repair=repair, clock=clock)() == 1
    assert repair.asked == []
    assert outcomes(database) == [(REPAIRED, None)]
