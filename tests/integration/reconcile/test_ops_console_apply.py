"""The changes page's "apply": the worker reconciles and repairs through the outbox (issue 13).

Over real HTTP against the emulator, on SQLite and PostgreSQL: drift made in DingTalk behind
the bridge's back, an "apply" console action, the repairs queued in the outbox and the
translator putting DingTalk right.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dingtalk_client_fixtures import emulator_client
from sqlalchemy import select

from scim_bridge.dingtalk.client import DingTalkClient
from scim_bridge.dingtalk.emulator import RunningEmulator
from scim_bridge.directory.console_actions import queue_action
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import ConsoleAction, OutboxEntry, ReconcileRun
from scim_bridge.mapping.rules import load_rules, rules_path
from scim_bridge.settings import Settings
from scim_bridge.sync.console_actions import ActionTools, carry_out_actions
from scim_bridge.sync.reconcile_job import ReconcileJob
from scim_bridge.sync.worker import Worker


def test_apply_queues_the_repairs_through_the_outbox(
    org: Any,
    console: DingTalkClient,
    emulator: RunningEmulator,
    worker: Worker,
    database: Database,
    settings: Settings,
) -> None:
    console.update_user("alice", {"title": "Edited in the console"})
    rules = load_rules(rules_path(settings))
    job = ReconcileJob(
        database, settings, client=lambda: emulator_client(emulator), rules=lambda: rules
    )
    with database.write() as session:
        action = queue_action(
            session, "apply", target="reconcile:1", requested_by="ada", now=datetime.now(UTC)
        )
    woken: list[bool] = []
    tools = ActionTools(rules=lambda: rules, reconcile=job)
    assert (
        carry_out_actions(
            database, clock=lambda: datetime.now(UTC), wake=lambda: woken.append(True), tools=tools
        )
        == 1
    )
    with database.read() as session:
        row = session.get(ConsoleAction, action.id)
        queued = list(session.scalars(select(OutboxEntry.resource_id)))
        run = session.scalar(select(ReconcileRun).order_by(ReconcileRun.id.desc()))
    assert row is not None and row.outcome == (
        "reconciled: 1 difference(s), 1 resource(s) queued for repair"
    )
    assert woken == [True]
    # The repair is an outbox row (the normal path), not a DingTalk write by the action.
    assert queued == [org.ids["alice"]]
    assert emulator.emulator.users()["alice"]["title"] == "Edited in the console"
    assert run is not None and run.trigger == "console" and run.applied
    worker.run_until_idle()
    assert emulator.emulator.users()["alice"]["title"] == "Staff"


def test_the_worker_schedules_short_and_long_console_actions_apart(
    org: Any, worker: Worker, database: Database, emulator: RunningEmulator
) -> None:
    from scim_bridge.sync.schedule import schedule_jobs

    jobs = {job.id: job for job in schedule_jobs(worker).get_jobs()}
    with database.write() as session:
        now = datetime.now(UTC)
        plan_id = queue_action(session, "plan", target="preview", requested_by="ada", now=now).id
        apply_id = queue_action(
            session, "apply", target="reconcile:0", requested_by="ada", now=now
        ).id
    assert jobs["console-actions"].func() == 0  # the short job leaves them to the long one
    assert jobs["console-long-actions"].func() == 2
    with database.read() as session:
        plan_row, apply_row = (
            session.get(ConsoleAction, plan_id),
            session.get(ConsoleAction, apply_id),
        )
    assert plan_row is not None and (plan_row.outcome or "").startswith("plan preview computed")
    # The worker's own reconcile (its client, the emulator's) ran: no drift, nothing queued.
    assert apply_row is not None and apply_row.outcome == (
        "reconciled: 0 difference(s), 0 resource(s) queued for repair"
    )


def test_apply_waits_while_another_reconcile_holds_the_lock(
    org: Any, worker: Worker, database: Database
) -> None:
    from sqlalchemy import update

    from scim_bridge.sync import reconcile_runs

    now = datetime.now(UTC)
    other = reconcile_runs.start(
        database, reconcile_runs.RunStart("full", "schedule", True, "elsewhere"), now=now
    )
    with database.write() as session:
        action = queue_action(session, "apply", target="reconcile:0", requested_by="ada", now=now)
    tools = ActionTools.of(worker)
    clock = lambda: datetime.now(UTC)  # noqa: E731
    assert carry_out_actions(database, clock=clock, wake=lambda: None, tools=tools) == 0
    with database.read() as session:
        row = session.get(ConsoleAction, action.id)
        assert row is not None and row.done_at is None  # still waiting, not "failed"
    with database.write() as session:
        finished = {"status": "done", "finished_at": datetime.now(UTC)}
        session.execute(update(ReconcileRun).where(ReconcileRun.id == other).values(**finished))
    assert carry_out_actions(database, clock=clock, wake=lambda: None, tools=tools) == 1
    with database.read() as session:
        row = session.get(ConsoleAction, action.id)
        assert row is not None and (row.outcome or "").startswith("reconciled: 0 difference(s)")
