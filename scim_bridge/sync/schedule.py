"""The worker's scheduled jobs (design.md: "only sync schedules"): one place lists them all.

Each job's body lives with its concern (monitor/, sync/); this module only says how often it
runs. Every worker schedules all of them. Those that must run once per deployment are wrapped
by ``once``: each tick is claimed in the database, and only the claiming process runs it
(sync/singleton_jobs.py, issue 14). The others are per process (the heartbeat, the token, the
SLA flush of this process's own counts, the mapping watch) or drain rows each run claims
(console actions, DingTalk events, the audit chain under its own advisory lock).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from apscheduler.schedulers.background import BackgroundScheduler

from scim_bridge.monitor.audit_retention import retention_job
from scim_bridge.sync.console_actions import ActionTools, carry_out_actions, sample_lag
from scim_bridge.sync.reconcile_job import cron_trigger
from scim_bridge.sync.singleton_jobs import CRON_TICK, aligned_interval, singleton

if TYPE_CHECKING:
    from scim_bridge.sync.worker import Worker


def schedule_jobs(worker: Worker) -> BackgroundScheduler:
    """Return a scheduler (not started) with every periodic job of ``worker``."""
    scheduler = BackgroundScheduler(daemon=True)

    def once(
        job: str, body: Callable[[], object], every: timedelta = CRON_TICK
    ) -> Callable[[], object]:
        # Issue 14: once per tick across every worker, on every host.
        return singleton(worker.db, job, body, every=every, holder=worker.owner, clock=worker.clock)

    third = max(1.0, worker.config.lease.total_seconds() / 3)
    at_once = datetime.now(UTC)  # the heartbeat and the token: /readyz wants them now
    # Late is better than skipped (APScheduler skips a run over a second late by default): a
    # skipped beat on a busy host lets leases lapse under work still in progress (issue 14).
    scheduler.add_job(
        worker.heartbeat,
        "interval",
        seconds=third,
        id="lease-heartbeat",
        next_run_time=at_once,
        misfire_grace_time=None,
        coalesce=True,
    )
    # Rows that became due (retries, expired leases of a dead worker) wake the loop.
    scheduler.add_job(worker.wakeup.set, "interval", seconds=5, id="due-retries")
    day = timedelta(days=1)
    retention = partial(_retention, worker)
    scheduler.add_job(
        once("audit-retention", retention, day), aligned_interval(86400), id="audit-retention"
    )
    # The audit trail's writers only insert; its sequencer chains what they committed
    # (docs/audit.md), so the chain keeps up without serialising SCIM writes.
    scheduler.add_job(worker.chain_audit, "interval", seconds=5, id="audit-chain")
    # The console's actions (issue 13): rows a web request inserted, carried out here.
    scheduler.add_job(
        partial(
            carry_out_actions,
            worker.db,
            clock=worker.clock,
            wake=worker.wakeup.set,
            tools=ActionTools.of(worker),  # console-ops: guard, apply and plan actions
            only="short",
        ),
        "interval",
        seconds=2,
        id="console-actions",
    )
    # console-ops: a plan preview or a reconcile from the console, long, in a job of its own.
    scheduler.add_job(
        partial(carry_out_actions, worker.db, clock=worker.clock, wake=worker.wakeup.set,
                tools=ActionTools.of(worker), only="long"),
        "interval", seconds=5, id="console-long-actions",
    )  # fmt: skip
    lag = partial(sample_lag, worker.db, clock=worker.clock)
    every = worker.config.lag_sample_seconds
    scheduler.add_job(
        once("lag-sample", lag, timedelta(seconds=every)), aligned_interval(every), id="lag-sample"
    )
    scheduler.add_job(
        worker.refresh_token, "interval", seconds=60, id="token-refresh", next_run_time=at_once
    )
    if worker.event_job is not None:  # DingTalk contact-change events (issue 10)
        scheduler.add_job(worker.event_job, "interval", seconds=2, id="dingtalk-events")
    if worker.alerting is not None:  # issue 12: the alert rules, one evaluation at a time
        every = worker.alerting.interval
        alerts = once("alerts", worker.alerting.job, timedelta(seconds=every))
        scheduler.add_job(alerts, aligned_interval(every), id="alerts")
    # Whenever the mapping file changes: re-project who is affected (Worker.run also starts
    # one re-projection when the worker starts).
    if worker.rules_loader is not None:
        scheduler.add_job(worker.reload_rules, "interval", seconds=10, id="watch-mapping")
    if worker.reconcile is not None and (when := cron_trigger(worker.reconcile.settings)):
        scheduler.add_job(
            once("reconcile", worker.reconcile.run), when, id="reconcile", coalesce=True
        )
    # Issue 12: SLA counts to the database, the availability probe, last month's report.
    if worker.sla is not None:
        sla = worker.sla
        scheduler.add_job(sla.flush, "interval", seconds=sla.policy.flush_seconds, id="sla-flush")
        probe = once("sla-probe", sla.probe, timedelta(seconds=sla.policy.probe_seconds))
        scheduler.add_job(probe, aligned_interval(sla.policy.probe_seconds), id="sla-probe")
        monthly = {"day": 1, "hour": 0, "minute": 15, "timezone": sla.policy.report_tz}
        scheduler.add_job(
            once("sla-report", sla.monthly_report), "cron", **monthly, id="sla-report"
        )
    return scheduler


def _retention(worker: Worker) -> None:
    retention_job(worker.db, now=worker.clock(), days=worker.config.audit_retention_days)


#: How long a stopping worker waits for the jobs still running (and its start-up
#: re-projection): a heartbeat or a token refresh ends in well under a second; a reconcile
#: run is not waited for past this, so a stop stays prompt for systemd and compose.
STOP_GRACE_SECONDS = 10.0


def stop_jobs(
    scheduler: BackgroundScheduler, *others: threading.Thread, grace: float = STOP_GRACE_SECONDS
) -> None:
    """Stop scheduling, and wait up to ``grace`` for the jobs in flight and ``others``.

    A job still running when its process disposes of the database holds a pooled connection
    the disposed pool never closes: psycopg then warns "deleted while still open" whenever
    the garbage collector finds it (in the test suite, in whichever test runs then)."""
    deadline = time.monotonic() + grace
    # shutdown(wait=True) stops scheduling at once, then waits for the running jobs without a
    # time limit: on a thread of its own, waited for no longer than grace.
    stopping = threading.Thread(target=scheduler.shutdown, name="jobs-stop", daemon=True)
    stopping.start()
    for thread in (stopping, *others):
        thread.join(max(0.0, deadline - time.monotonic()))
