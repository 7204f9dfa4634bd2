"""The scheduled reconcile: a cron job of the worker that repairs, and the gauges it feeds."""

from __future__ import annotations

from typing import Any

from scim_bridge.bootstrap import build_worker
from scim_bridge.dingtalk.client import DingTalkClient
from scim_bridge.dingtalk.emulator import RunningEmulator
from scim_bridge.directory.db import Database
from scim_bridge.errors import ConfigError
from scim_bridge.mapping.rules import load_rules, rules_path
from scim_bridge.monitor.metrics import parse, total
from scim_bridge.monitor.reconcile_state import history
from scim_bridge.settings import Settings
from scim_bridge.sync.reconcile_job import ReconcileJob, cron_trigger
from scim_bridge.sync.schedule import schedule_jobs
from scim_bridge.sync.worker import Worker, WorkerConfig


def test_the_worker_schedules_reconcile_from_the_cron_setting(
    settings: Settings, database: Database, reader: DingTalkClient
) -> None:
    nightly = settings.replace(reconcile_cron="10 2 * * *")
    worker = build_worker(nightly, database, client=reader, config=WorkerConfig(threads=1))
    job = schedule_jobs(worker).get_job("reconcile")
    assert job is not None
    assert str(job.trigger) == str(cron_trigger(nightly))
    assert "hour='2'" in str(job.trigger) and "minute='10'" in str(job.trigger)

    never = build_worker(
        settings.replace(reconcile_cron=""), database, client=reader, config=WorkerConfig(threads=1)
    )
    assert schedule_jobs(never).get_job("reconcile") is None


def test_a_scheduled_run_repairs_and_the_next_finds_dingtalk_exact(
    org: Any,
    worker: Worker,
    console: DingTalkClient,
    emulator: RunningEmulator,
    app: Any,
) -> None:
    console.update_user("carol", {"title": "Edited in the console"})
    assert worker.reconcile is not None
    first = worker.reconcile.run()
    assert first is not None and first.comparison.accuracy_percent == 75.0
    metrics = parse(app.test_client().get("/metrics").data)
    assert total(metrics, "scim_bridge_reconcile_accuracy_percent") == 75.0
    assert total(metrics, "scim_bridge_reconcile_drift", kind="user_field") == 1
    assert total(metrics, "scim_bridge_reconcile_drift", kind="user_orphan") == 0

    worker.run_until_idle()  # the repair went through the outbox
    assert emulator.emulator.users()["carol"]["title"] == "Staff"
    second = worker.reconcile.run()
    assert second is not None and second.comparison.drift == ()
    metrics = parse(app.test_client().get("/metrics").data)
    assert total(metrics, "scim_bridge_reconcile_accuracy_percent") == 100.0
    assert total(metrics, "scim_bridge_reconcile_drift", kind="user_field") == 0


def test_a_scheduled_run_without_dingtalk_configured_is_skipped(
    settings: Settings, database: Database
) -> None:
    def not_configured() -> DingTalkClient:
        raise ConfigError("DingTalk is not configured: set SCIM_BRIDGE_DINGTALK_APP_KEY")

    job = ReconcileJob(database, settings, not_configured, lambda: load_rules(rules_path(settings)))
    assert job.run() is None
    with database.read() as session:
        assert history(session) == []
