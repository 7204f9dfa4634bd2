"""Acceptance 3 of issue 10: an edit made in DingTalk raises a signed push, and the bridge
repairs that person (or department) without a full reconcile; its own writes raise no loop.

The whole loop over real HTTP: SCIM writes -> worker -> emulator; the emulator's sealed push ->
the bridge's callback endpoint -> inbox -> the worker's event job -> targeted reconcile ->
outbox -> worker -> emulator. SQLite and PostgreSQL. The job and the worker are driven
explicitly (``event_job.drain()``, ``run_until_idle()``), never by waiting.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import func, select
from worker_threads import running

from scim_bridge.bootstrap import build_worker
from scim_bridge.dingtalk.client import DingTalkClient
from scim_bridge.dingtalk.emulator import RunningEmulator
from scim_bridge.dingtalk.emulator.callbacks import WRITE_EVENTS
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import DingTalkEvent, OutboxEntry, ReconcileRun
from scim_bridge.settings import Settings
from scim_bridge.sync.events import REPAIRED, EventJob
from scim_bridge.sync.schedule import schedule_jobs
from scim_bridge.sync.worker import Worker

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
#: The calls only a full walk of DingTalk makes (sync/live_read.py): none may appear.
FULL_WALK = {"/topapi/v2/department/listsub", "/topapi/v2/user/list", "/topapi/user/listid"}


def person(name: str, mobile: str) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": f"{name}@example.com",
        "externalId": name,
        "displayName": name.title(),
        "title": "Staff",
        "phoneNumbers": [{"value": f"+86 {mobile}", "type": "mobile"}],
        "emails": [{"value": f"{name}@example.com", "type": "work", "primary": True}],
    }


def writes(emulator: RunningEmulator) -> list[dict[str, Any]]:
    return [c for c in emulator.emulator.calls() if c["api"] in WRITE_EVENTS]


def outbox_rows(database: Database) -> int:
    with database.read() as session:
        return int(session.scalar(select(func.count()).select_from(OutboxEntry)) or 0)


def inbox(database: Database) -> list[DingTalkEvent]:
    with database.read() as session:
        return list(session.scalars(select(DingTalkEvent).order_by(DingTalkEvent.id)))


def job_of(worker: Worker) -> EventJob:
    assert isinstance(worker.event_job, EventJob)  # built from the callback settings
    return worker.event_job


def settle(emulator: RunningEmulator, worker: Worker) -> int:
    """Deliver every push, drain the inbox, apply what it queued; return the events handled."""
    assert emulator.emulator.callbacks.flush()
    handled = job_of(worker).drain()
    worker.run_until_idle()
    return handled


@pytest.fixture
def synced(scim: Any, worker: Worker, emulator: RunningEmulator) -> dict[str, Any]:
    """Sales with alice and bob, synced, and the pushes our own writes raised all drained."""
    alice = scim.post("/Users", person("alice", "13900000011")).json
    bob = scim.post("/Users", person("bob", "13900000012")).json
    members = [{"value": alice["id"]}, {"value": bob["id"]}]
    sales = scim.post("/Groups", {"displayName": "Sales", "members": members}).json
    worker.run_until_idle()
    assert set(emulator.emulator.users()) == {"alice", "bob"}
    depts = {d["name"]: i for i, d in emulator.emulator.departments().items()}
    return {"alice": alice["id"], "bob": bob["id"], "sales": sales["id"], "dept": depts["Sales"]}


def test_echoes_of_our_own_writes_queue_nothing(
    synced: dict[str, Any], emulator: RunningEmulator, worker: Worker, database: Database
) -> None:
    made = len(writes(emulator))
    assert emulator.emulator.callbacks.flush()
    echoes = inbox(database)
    # Our department create and user creates (and any placement update) came back as pushes.
    assert {"org_dept_create", "user_add_org"} <= {e.event_type for e in echoes}

    handled = job_of(worker).drain()

    assert handled == len(echoes)
    assert outbox_rows(database) == 0  # DingTalk equals what we last applied: nothing queued
    worker.run_until_idle()
    assert len(writes(emulator)) == made  # no DingTalk write, so no new push: no loop
    assert emulator.emulator.callbacks.flush()
    assert len(inbox(database)) == len(echoes)
    assert {e.outcome for e in inbox(database)} == {REPAIRED}


def test_a_field_edited_in_dingtalk_is_repaired_without_a_full_reconcile(
    synced: dict[str, Any], emulator: RunningEmulator, worker: Worker, database: Database
) -> None:
    settle(emulator, worker)  # our own echoes, as above
    seen = len(emulator.emulator.calls())

    emulator.emulator.admin.update_user("alice", title="Edited in the console")
    assert emulator.emulator.callbacks.flush()
    assert [e.event_type for e in inbox(database) if e.processed_at is None] == ["user_modify_org"]
    assert job_of(worker).drain() == 1
    assert outbox_rows(database) == 1  # alice, queued for the normal path
    worker.run_until_idle()

    assert emulator.emulator.users()["alice"]["title"] == "Staff"
    assert emulator.emulator.users()["bob"]["title"] == "Staff"
    repair_calls = emulator.emulator.calls()[seen:]
    assert not FULL_WALK & {c["api"] for c in repair_calls}
    assert {c["userid"] for c in repair_calls if c["api"] in WRITE_EVENTS} == {"alice"}
    with database.read() as session:
        runs = session.scalars(select(ReconcileRun).where(ReconcileRun.trigger == "event")).all()
    assert runs and {r.mode for r in runs} == {"targeted"}

    # The repair's own push comes back: it finds DingTalk as we left it, and stops there.
    made = len(writes(emulator))
    assert settle(emulator, worker) == 1
    assert outbox_rows(database) == 0
    assert len(writes(emulator)) == made


def test_a_person_moved_in_dingtalk_is_moved_back(
    synced: dict[str, Any], emulator: RunningEmulator, worker: Worker, database: Database
) -> None:
    settle(emulator, worker)
    other = emulator.emulator.admin.add_department("Somewhere else")
    emulator.emulator.admin.move_user("bob", [other])
    settle(emulator, worker)
    assert emulator.emulator.users()["bob"]["dept_id_list"] == [synced["dept"]]


def test_a_department_renamed_in_dingtalk_is_renamed_back(
    synced: dict[str, Any], emulator: RunningEmulator, worker: Worker, database: Database
) -> None:
    settle(emulator, worker)
    emulator.emulator.admin.rename_department(synced["dept"], "Sales (renamed by hand)")
    settle(emulator, worker)
    assert emulator.emulator.departments()[synced["dept"]]["name"] == "Sales"


def test_a_person_deleted_in_dingtalk_comes_back(
    synced: dict[str, Any], emulator: RunningEmulator, worker: Worker, database: Database
) -> None:
    settle(emulator, worker)
    emulator.emulator.admin.delete_user("alice")
    settle(emulator, worker)
    assert emulator.emulator.users()["alice"]["title"] == "Staff"
    assert emulator.emulator.users()["alice"]["dept_id_list"] == [synced["dept"]]


def test_the_worker_schedules_the_event_job_only_when_callbacks_are_configured(
    worker: Worker, settings: Settings, database: Database, client: DingTalkClient
) -> None:
    assert "dingtalk-events" in {job.id for job in schedule_jobs(worker).get_jobs()}
    plain = settings.replace(dingtalk_callback_token="", dingtalk_callback_aes_key="")
    without = build_worker(plain, database, client=client)
    assert without.event_job is None
    assert "dingtalk-events" not in {job.id for job in schedule_jobs(without).get_jobs()}


def test_the_running_worker_repairs_an_edit_on_its_own(
    synced: dict[str, Any], emulator: RunningEmulator, worker: Worker, database: Database
) -> None:
    """The loop as deployed: the worker's scheduler runs the event job; nothing is driven by
    hand. A bounded wait on the outcome (not a timing assertion): the job runs every 2 s."""
    settle(emulator, worker)
    with running(worker):  # on the way out: the loop and its scheduler's jobs have ended
        emulator.emulator.admin.update_user("bob", title="Edited while the worker runs")
        deadline = time.monotonic() + 60
        while emulator.emulator.users()["bob"]["title"] != "Staff":
            assert time.monotonic() < deadline, "the running worker did not repair bob"
            time.sleep(0.1)
