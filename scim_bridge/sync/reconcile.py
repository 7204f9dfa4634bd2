"""Reconcile: is DingTalk what the directory says? Find the drift, measure it, repair it.

Issue 10. The translator diffs against its own last-applied snapshot, so an edit made in
DingTalk's console goes unnoticed; reconcile reads DingTalk itself (sync/live_read.py), lets the
one decision engine compare (sync/reconcile_compare.py), stores the result with the contact
accuracy (sync/reconcile_runs.py), and with ``apply`` repairs through the outbox
(sync/repair.py). Three entry points:

* ``reconcile_full``: the whole directory, or an incremental slice of it (CLI, schedule);
* ``reconcile_targeted``: only the people and departments a DingTalk change event named;
* the scheduler job in sync/reconcile_job.py.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from scim_bridge.dingtalk.client import DingTalkClient
from scim_bridge.directory.db import Database
from scim_bridge.errors import ReconcileOverBudget
from scim_bridge.mapping.model import Projection
from scim_bridge.mapping.project import project_directory
from scim_bridge.mapping.rules import MappingRules, load_rules, rules_path
from scim_bridge.monitor.reconcile_state import calls_this_month
from scim_bridge.settings import Settings
from scim_bridge.sync import live_read, reconcile_runs
from scim_bridge.sync.dryrun import load_directory
from scim_bridge.sync.live_read import Progress
from scim_bridge.sync.reconcile_compare import Comparison, Scope, compare
from scim_bridge.sync.reconcile_desired import desired_subset
from scim_bridge.sync.reconcile_estimate import Estimate, estimate_full
from scim_bridge.sync.reconcile_inputs import (
    Links,
    current_state,
    known,
    read_links,
    read_pending,
    wants_detail,
)
from scim_bridge.sync.reconcile_runs import RunResult, RunStart
from scim_bridge.sync.repair import OrphanPolicy, Repairs, repair

FULL, INCREMENTAL, TARGETED = "full", "incremental", "targeted"


def utc_now() -> datetime:
    """Return the time now, in UTC (the default clock)."""
    return datetime.now(UTC)


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class Reconciler:
    """Everything one reconcile needs, passed in (style.md: settings and clocks injected)."""

    db: Database
    client: DingTalkClient
    settings: Settings
    rules: MappingRules
    clock: Callable[[], datetime] = utc_now
    progress: Progress = live_read._noop
    #: Shown the estimate before the first DingTalk call (the CLI prints it on stderr).
    on_estimate: Callable[[Estimate], None] = lambda estimate: None
    trigger: str = "cli"
    holder: str = field(default_factory=_holder)


@dataclass(frozen=True)
class ReconcileResult:
    """One reconcile's outcome, as stored and as the CLI prints it."""

    run_id: int
    mode: str
    comparison: Comparison
    estimate: Estimate
    calls_made: int
    repairs: Repairs | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON report: compared, accuracy_percent, drift (and the rest)."""
        out: dict[str, Any] = {
            "compared": self.comparison.compared,
            "accuracy_percent": self.comparison.accuracy_percent,
            "drift": [item.to_dict() for item in self.comparison.drift],
            "drift_by_kind": self.comparison.by_kind,
            "departments_compared": self.comparison.departments_compared,
            "mode": self.mode,
            "run_id": self.run_id,
            "calls_estimated": self.estimate.total,
            "calls_made": self.calls_made,
            "applied": self.repairs is not None,
        }
        if self.repairs is not None:
            out["repairs"] = {
                "queued": len(self.repairs.queued),
                "snapshots_corrected": self.repairs.snapshots,
                "links_released": self.repairs.unlinked,
                "orphans_adopted": self.repairs.adopted,
                "orphans_to_remove": self.repairs.removing,
            }
        return out


def orphan_policy(rules: MappingRules) -> OrphanPolicy:
    """Return the mapping's orphan policy (its ``reconcile:`` section; default: report)."""
    return OrphanPolicy(orphans=rules.reconcile.orphans, match=rules.reconcile.match)


def desired_state(db: Database, rules: MappingRules) -> Projection:
    """Project the whole directory with the mapping (what plan and the translator use)."""
    users, groups = load_directory(db)
    return project_directory(users, groups, rules)


def reconcile_full(
    r: Reconciler, *, apply: bool = False, incremental: bool = False
) -> ReconcileResult:
    """Reconcile the whole directory (or an incremental slice); store the run; repair if asked."""
    from scim_bridge.sync.reconcile_slice import plan_slice

    mode = INCREMENTAL if incremental else FULL
    desired = desired_state(r.db, r.rules)
    links = read_links(r.db)
    detail = wants_detail(links, desired)
    chosen = plan_slice(r, links, detail) if incremental else None
    estimate = (
        chosen.estimate
        if chosen is not None
        else estimate_full(
            links,
            departments=max(len(links.dept_links), len(desired.departments)),
            details=len(detail),
        )
    )
    _check_budget(r, estimate)
    r.on_estimate(estimate)
    run_id = reconcile_runs.start(r.db, RunStart(mode, r.trigger, apply, r.holder), now=r.clock())
    try:
        before = _calls(r.client)
        live = live_read.read_whole(
            r.client,
            wants_detail=detail.__contains__,
            dept_ids=chosen.dept_ids if chosen is not None else None,
            progress=_renewing(r, run_id),
        )
        scope = None
        if chosen is not None:
            scope = chosen.scope(live, links, desired)
            live_read.read_details(r.client, live, chosen.missing(live, links, scope))
        current = current_state(
            live, links, assume_unread=("users", "departments") if chosen is not None else ()
        )
        comparison = compare(desired, current, known(links, read_pending(r.db)), scope=scope)
        repairs = _repair(r, comparison, desired, current) if apply else None
        made = _calls(r.client) - before
    except BaseException as exc:
        reconcile_runs.finish(
            r.db, run_id, _failed(estimate, _calls(r.client) - before, exc), now=r.clock()
        )
        raise
    cursor = chosen.cursor if chosen is not None else None
    reconcile_runs.finish(r.db, run_id, _stored(comparison, estimate, made, cursor), now=r.clock())
    return ReconcileResult(run_id, mode, comparison, estimate, made, repairs)


def reconcile_targeted(
    db: Database,
    client: DingTalkClient,
    settings: Settings,
    *,
    user_ids: Iterable[str] = (),
    department_ids: Iterable[int | str] = (),
    rules: MappingRules | None = None,
    clock: Callable[[], datetime] = utc_now,
    apply: bool = True,
    trigger: str = "event",
) -> ReconcileResult:
    """Read only these DingTalk records live, compare them, and repair them (by default).

    For DingTalk's contact-change events (issue 10, sync/events.py): ``user_ids`` are DingTalk
    userids (an event's ``userId`` list), ``department_ids`` DingTalk dept_ids (``deptId``).
    One ``user/get`` per person and one ``department/get`` per department; every other record
    is taken as last applied, so only these can show drift. Repairs go through the outbox like
    a full reconcile's (the worker applies them); the run is stored with mode "targeted" and
    does not wait for, or block, a full reconcile. An echo of the bridge's own write finds
    nothing to repair, so it raises no loop. ``rules`` default to the settings' mapping file.
    """
    userids = sorted({str(u) for u in user_ids if str(u)})
    dept_ids = sorted({int(d) for d in department_ids if str(d).strip()})
    r = Reconciler(
        db,
        client,
        settings,
        rules if rules is not None else load_rules(rules_path(settings)),
        clock=clock,
        trigger=trigger,
    )
    links = read_links(db)
    scope = _targeted_scope(links, userids, dept_ids)
    desired = desired_subset(db, r.rules, user_ids=scope.users, dept_keys=scope.departments)
    estimate = Estimate(tree=0, departments=len(dept_ids), pages=0, details=len(userids))
    run_id = reconcile_runs.start(
        db, RunStart(TARGETED, trigger, apply, r.holder), now=clock(), exclusive=False
    )
    try:
        before = _calls(client)
        live = live_read.read_records(client, userids=userids, dept_ids=dept_ids)
        scope = replace(scope, orphans=frozenset(u for u in userids if u in live.users))
        current = current_state(live, links, assume_unread=("users", "departments"))
        comparison = compare(desired, current, known(links, read_pending(db)), scope=scope)
        repairs = _repair(r, comparison, desired, current) if apply else None
        made = _calls(client) - before
    except BaseException as exc:
        reconcile_runs.finish(
            db, run_id, _failed(estimate, _calls(client) - before, exc), now=clock()
        )
        raise
    reconcile_runs.finish(db, run_id, _stored(comparison, estimate, made, None), now=clock())
    return ReconcileResult(run_id, TARGETED, comparison, estimate, made, repairs)


def _targeted_scope(links: Links, userids: list[str], dept_ids: list[int]) -> Scope:
    by_userid = links.by_userid
    by_dept = {dept_id: key for key, dept_id in links.dept_links.items()}
    return Scope(
        users=frozenset(by_userid[u] for u in userids if u in by_userid),
        departments=frozenset(by_dept[d] for d in dept_ids if d in by_dept),
        orphan_departments=frozenset(dept_ids),
    )


def _repair(r: Reconciler, comparison: Comparison, desired: Projection, current: Any) -> Repairs:
    return repair(
        r.db,
        comparison.drift,
        desired=desired,
        current=current,
        policy=orphan_policy(r.rules),
        now=r.clock(),
    )


def _calls(client: DingTalkClient) -> int:
    """DingTalk API calls made so far by this client (token fetches not counted)."""
    stats = client.stats()
    return stats.requests - stats.token_fetches


def _check_budget(r: Reconciler, estimate: Estimate) -> None:
    budget = r.settings.reconcile_monthly_call_budget
    if not budget:
        return
    with r.db.read() as session:
        used = calls_this_month(session, now=r.clock())
    if used + estimate.total > budget:
        raise ReconcileOverBudget(
            f"reconcile needs {estimate.total} DingTalk calls but only {max(0, budget - used)} "
            f"of this month's budget of {budget} are left (setting reconcile_monthly_call_budget); "
            "run `scim-bridge reconcile --incremental` or raise the budget"
        )


def _renewing(r: Reconciler, run_id: int) -> Progress:
    """Report progress and renew the run's lease now and then, so a long walk keeps its lock."""
    last = [r.clock()]

    def report(step: str, done: int, total: int) -> None:
        r.progress(step, done, total)
        now = r.clock()
        if (now - last[0]).total_seconds() >= reconcile_runs.LEASE.total_seconds() / 3:
            reconcile_runs.renew(r.db, run_id, now=now)
            last[0] = now

    return report


def _stored(comparison: Comparison, estimate: Estimate, made: int, cursor: int | None) -> RunResult:
    return RunResult(
        compared=comparison.compared,
        accuracy_percent=comparison.accuracy_percent,
        drift=comparison.by_kind,
        calls_estimated=estimate.total,
        calls_made=made,
        slice_cursor=cursor,
    )


def _failed(estimate: Estimate, made: int, exc: BaseException) -> RunResult:
    words = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return RunResult(
        compared=0,
        accuracy_percent=None,
        drift={},
        calls_estimated=estimate.total,
        calls_made=made,
        error=f"{type(exc).__name__}: {words}"[:2000],
    )
