"""The worker: claims due outbox rows, runs the translator on a thread pool, classifies failures.

Failure classes (design.md): throttled → wait and retry, never an attempt; transient → backoff
with jitter, bounded attempts, then the dead-letter list; permanent → the dead-letter list at
once, with the reason in plain words (sync/outcomes.py settles the row). Every outcome is in
the audit trail (sync/record.py).
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from scim_bridge.directory.db import Database
from scim_bridge.directory.outbox import Lane
from scim_bridge.errors import (
    ConfigError,
    DingTalkError,
    IpBanned,
    LinkConflict,
    ProjectionPaused,
    Throttled,
    Transient,
)
from scim_bridge.mapping.rules import MappingRules
from scim_bridge.monitor import readiness
from scim_bridge.monitor.audit_chain import chain_pending
from scim_bridge.monitor.metrics import Metrics
from scim_bridge.monitor.sla_jobs import SlaJobs
from scim_bridge.sync import claims as outbox
from scim_bridge.sync.alerting import AlertEngine
from scim_bridge.sync.claims import Claim
from scim_bridge.sync.courtesy import Courtesy
from scim_bridge.sync.failures import explain
from scim_bridge.sync.outcomes import Outcomes
from scim_bridge.sync.reconcile_job import ReconcileJob
from scim_bridge.sync.resource_locks import translating
from scim_bridge.sync.schedule import schedule_jobs, stop_jobs
from scim_bridge.sync.translator import Translator
from scim_bridge.sync.wakeup import Wakeup

log = logging.getLogger("scim_bridge.sync")


@dataclass
class WorkerConfig:
    """How hard the worker works and how patiently it retries."""

    threads: int = 8
    lease: timedelta = timedelta(seconds=60)
    max_attempts: int = 8  # transient failures over about an hour (30 s doubling, capped)
    backoff_base: float = 30.0
    backoff_cap: float = 1800.0
    idle_poll: float = 1.0  # longest sleep without a wake-up (rows due later, other hosts)
    leavers_look: float = 0.02  # issue 14: between looks for a leaver while the rest are busy
    audit_retention_days: int = 400  # issue 11: the audit trail (docs/audit.md, Retention)
    lag_sample_seconds: float = 60.0  # issue 13: the console's lag history, once per deployment


@dataclass
class Worker:
    """One translator process's loop over the outbox."""

    db: Database
    translator: Translator
    clock: Callable[[], datetime]
    config: WorkerConfig = field(default_factory=WorkerConfig)
    wakeup: Wakeup = field(default_factory=Wakeup)
    rng: random.Random = field(default_factory=random.Random)
    #: Reloads the mapping rules; when their fingerprint changes, the affected are re-projected.
    rules_loader: Callable[[], MappingRules] | None = None
    #: This process's Prometheus metrics (sync lag, guard pauses), or None.
    metrics: Metrics | None = None
    #: Drains DingTalk's contact-change pushes into targeted repairs (sync/events.py), or None.
    event_job: Callable[[], object] | None = None
    reconcile: ReconcileJob | None = None  # issue 10: the scheduled reconcile, or None
    #: The SLA bookkeeping's jobs (issue 12, monitor/sla_jobs.py), or None when switched off.
    sla: SlaJobs | None = None
    #: The alert rules and channels (issue 12), evaluated every ``alerting.interval`` s, or None.
    alerting: AlertEngine | None = None
    #: Issue 14 (perf): gives way to the API of the process it is embedded in, or None.
    courtesy: Courtesy | None = None
    owner: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    )

    def __post_init__(self) -> None:
        self._inflight: dict[int, Claim] = {}
        self._guard = threading.Lock()
        self._idle = threading.Condition(self._guard)
        self._paused_alerted = False
        self.outcomes = Outcomes(
            self.db, self.translator, self.clock, self.owner, self.config, self.rng
        )

    # --- the loop ----------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Process the outbox until ``stop`` is set."""
        scheduler = schedule_jobs(self)
        scheduler.start()
        # Re-project whoever the mapping changed for while we were down; not a one-shot job: it
        # fails if the scheduler shuts down as it runs (JobLookupError).
        start = threading.Thread(target=self.reproject, args=(True,), name="reproject", daemon=True)
        start.start()
        log.info("worker %s started with %d threads", self.owner, self.config.threads)
        with ThreadPoolExecutor(self.config.threads, thread_name_prefix="translate") as pool:
            try:
                while not stop.is_set():
                    self._turn(pool, stop)
            finally:
                stop_jobs(scheduler, start)  # nothing of ours holds a connection after run()
                self.wakeup.set()
        log.info("worker %s stopped", self.owner)

    def _turn(self, pool: ThreadPoolExecutor, stop: threading.Event) -> None:
        try:
            if not self._dispatch(pool):
                self.wakeup.wait(self._sleep_for())
        except Exception as exc:
            # Issue 14: the database restarting (or failing over) must not end the loop; the
            # rows of this turn keep their leases, which expire, and are claimed again.
            first = (str(exc).splitlines() or [""])[0][:200]  # not the SQL and its parameters
            log.warning(
                "the outbox could not be read (%s: %s); retrying", type(exc).__name__, first
            )
            stop.wait(self.config.idle_poll)

    def run_until_idle(self, *, timeout: float = 60.0) -> None:
        """Process everything that is due, then return (for tests and one-shot runs)."""
        deadline = datetime.now().timestamp() + timeout
        with ThreadPoolExecutor(self.config.threads) as pool:
            while datetime.now().timestamp() < deadline:
                dispatched = self._dispatch(pool)
                with self._idle:
                    if not dispatched and not self._inflight and not self._has_due():
                        return
                    self._idle.wait(0.05)
        raise TimeoutError("the outbox did not drain in time")

    def _dispatch(self, pool: ThreadPoolExecutor) -> bool:
        with self._guard:
            free = self.config.threads - len(self._inflight)
            busy = list(self._inflight)  # never claimed twice at once, even if a lease lapsed
        if free <= 0:
            # Only a thread finishing frees one (it notifies _idle). The wake-up is set by every
            # commit of the API, hundreds a second under load, and would turn this loop as often.
            with self._idle:
                if len(self._inflight) >= self.config.threads:
                    self._idle.wait(0.05)
            return True
        # Issue 14: one thread stays free for leavers, so a deactivation committed during an
        # onboarding starts at once instead of waiting for a thread to finish a creation.
        reserved = 1 if self.config.threads > 1 else 0
        limit, lanes = free - reserved, Lane.BULK
        if free <= reserved:
            # Only the leavers' thread is free: look when woken, not at each commit of a busy API.
            self.wakeup.wait(self.config.idle_poll)
            time.sleep(self.config.leavers_look)
            limit, lanes = free, Lane.DEPROVISION
        batch = outbox.claim_due(
            self.db,
            owner=self.owner,
            now=self.clock(),
            limit=limit,
            lease=self.config.lease,
            max_lane=lanes,
            exclude=busy,
        )
        for claim in batch:
            with self._guard:
                self._inflight[claim.id] = claim
            pool.submit(self._process_and_release, claim)
        # Having waited for the leavers' thread counts as work: the loop must not sleep on the
        # bulk rows that are due but are not this thread's.
        return bool(batch) or lanes is Lane.DEPROVISION

    def _process_and_release(self, claim: Claim) -> None:
        try:
            if self.courtesy is not None:
                self.courtesy.before_change(claim.lane)  # issue 14: the API first, bounded
            with translating(self.db, claim.resource_type, claim.resource_id) as mine:
                if mine:
                    self.process(claim)
                else:
                    self.outcomes.busy_elsewhere(claim)
        except Exception:  # a bookkeeping failure must not kill the pool thread
            log.exception("processing %s %s failed", claim.resource_type, claim.resource_id)
        finally:
            with self._idle:
                self._inflight.pop(claim.id, None)
                self._idle.notify_all()
            self.wakeup.set()

    def _sleep_for(self) -> float:
        with self.db.read() as session:
            due = outbox.next_due(session, now=self.clock())
        if due is None:
            return self.config.idle_poll
        if due.tzinfo is None:
            due = due.replace(tzinfo=self.clock().tzinfo)
        return max(0.0, min(self.config.idle_poll, (due - self.clock()).total_seconds()))

    def _has_due(self) -> bool:
        with self.db.read() as session:
            due = outbox.next_due(session, now=self.clock())
        if due is None:
            return False
        if due.tzinfo is None:
            due = due.replace(tzinfo=self.clock().tzinfo)
        return due <= self.clock()

    # --- one row -----------------------------------------------------------------------------

    def process(self, claim: Claim) -> None:
        """Translate one claimed resource and settle its outbox row by the outcome."""
        try:
            # Issue 14: a leaver's calls take the next free slot of DingTalk's quota.
            with self.translator.client.urgent(claim.lane == Lane.DEPROVISION):
                self.translator.sync(
                    claim.resource_type, claim.resource_id, actor=claim.actor, unsure=claim.orphaned
                )
        except (Throttled, IpBanned) as exc:
            # DingTalk asked us to slow down: wait as long as it says; no attempt is spent.
            self.outcomes.postpone(claim, exc, state="throttled", seconds=max(exc.retry_after, 1))
        except ProjectionPaused as exc:
            # Held for an operator: look again shortly, without spending an attempt.
            self.outcomes.postpone(claim, exc, state="paused", seconds=exc.retry_after)
            if not self._paused_alerted:
                self._paused_alerted = True
                log.error("ALERT %s", exc)
                if self.metrics is not None:
                    self.metrics.guard_paused()
        except LinkConflict as exc:
            # Our own refusal to hand a DingTalk person to a second SCIM user: no retry helps.
            self.outcomes.dead_letter(claim, exc)
        except DingTalkError as exc:
            if isinstance(exc, Transient) or exc.retryable:
                self.outcomes.retry_or_bury(claim, exc)
            else:
                self.outcomes.dead_letter(claim, exc)
        except Exception as exc:  # our bug or an outage of our own database: retry, bounded
            log.exception("translating %s %s failed", claim.resource_type, claim.resource_id)
            self.outcomes.retry_or_bury(claim, exc)
        else:
            self._paused_alerted = False
            self.outcomes.complete(claim)
            self._observe_lag(claim)

    def _observe_lag(self, claim: Claim) -> None:
        # Issue 12: SCIM commit of the first unapplied change -> DingTalk acknowledged.
        if (first := claim.first_changed_at) is None:
            return
        first = first if first.tzinfo is not None else first.replace(tzinfo=UTC)
        seconds = (self.clock() - first).total_seconds()
        if self.metrics is not None:
            self.metrics.observe_lag(seconds)
        if self.sla is not None:  # the monthly report's lag percentiles
            self.sla.recorder.observe_lag(seconds)

    # --- periodic jobs (APScheduler) ---------------------------------------------------------

    def reproject(self, on_start: bool = False) -> None:
        """Queue the resources whose desired state differs from what was applied."""
        try:
            queued = self.translator.reproject_changed(on_start=on_start)
        except Exception:  # the next mapping change, run or restart tries again
            log.exception("re-projecting failed")
            return
        if queued:
            log.info("mapping: %d resource(s) queued for re-projection", queued)
            self.wakeup.set()

    def reload_rules(self) -> None:
        """Load the mapping file again; adopt it and re-project if it changed."""
        assert self.rules_loader is not None
        try:
            rules = self.rules_loader()
        except ConfigError as exc:
            # Keep projecting with the rules that worked; say loudly why the new ones don't.
            log.error("mapping file not reloaded, the previous rules stay in force: %s", exc)
            return
        if rules.fingerprint != self.translator.rules.fingerprint:
            log.info("mapping rules changed (%s); re-projecting", rules.fingerprint[:12])
            self.translator.rules = rules
            self.reproject()

    def heartbeat(self) -> None:
        with self._guard:
            ids = list(self._inflight)
        with self.db.write() as session:
            if ids:
                outbox.extend_leases(
                    session, ids, owner=self.owner, now=self.clock(), lease=self.config.lease
                )
            readiness.record_heartbeat(session, owner=self.owner, now=self.clock())

    def refresh_token(self) -> None:
        ok, reason = True, "token fetched"
        try:
            self.translator.client.refresh_token()
        except DingTalkError as exc:
            # The next call retries the fetch itself; say why it failed now.
            log.warning("DingTalk token refresh failed: %s", exc)
            ok, reason = False, explain(exc).text
        # /readyz reads this row: a web request never calls DingTalk itself (design.md).
        with self.db.write() as session:
            readiness.record_token(session, ok=ok, reason=reason, now=self.clock())

    def chain_audit(self) -> int:
        """Chain the audit records committed since the last run; return how many."""
        try:
            return chain_pending(self.db, now=self.clock())
        except Exception:  # a failed run leaves records unchained, never lost: the next one chains
            log.exception("chaining the audit trail failed; the next run tries again")
            return 0
