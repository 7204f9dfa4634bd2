"""The worker's side of the console's actions (issue 13): carry out what operators asked.

A web request only inserts a ``console_actions`` row (directory/console_actions.py); this job
claims each waiting row and acts through the store: "retry" puts dead letters back in the
outbox (by id, a whole cause as ``group:<key>``, or "all"), "drop" forgets them, "sync now"
queues one person, the guard's confirm and reject release or hold a paused burst, "apply" runs
a reconcile whose repairs go through the outbox, and "plan" stores the plan preview; the
translator then does the DingTalk work as for any change. Each action is its own transaction,
so one failing action does not hold up the others (style.md: jobs isolate failures per item).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from sqlalchemy.orm import Session

from scim_bridge.directory import console_actions
from scim_bridge.directory.console_actions import ALL, ActionKind
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import ConsoleAction
from scim_bridge.directory.outbox import Lane, mark_changed
from scim_bridge.errors import BridgeError, ConfigError, ReconcileBusy, ReconcileOverBudget
from scim_bridge.mapping.rules import MappingRules
from scim_bridge.monitor.dead_letter_groups import GROUP_PREFIX, find_group, letter_ids
from scim_bridge.monitor.lag_history import record_lag_sample
from scim_bridge.monitor.plan_preview import store_preview
from scim_bridge.sync import dlq, guard
from scim_bridge.sync.plan_preview import compute_preview
from scim_bridge.sync.reconcile import Reconciler, reconcile_full
from scim_bridge.sync.reconcile_job import ReconcileJob

if TYPE_CHECKING:
    from scim_bridge.sync.worker import Worker

log = logging.getLogger("scim_bridge.sync.console_actions")

#: Actions carried out per run; the rest wait for the next run, seconds later.
BATCH = 50
#: Actions whose work is long (a whole-directory plan, a DingTalk walk): done before the
#: action's own transaction, which then only records the outcome.
LONG = frozenset({ActionKind.PLAN.value, ActionKind.APPLY.value})


@dataclass(frozen=True)
class ActionTools:
    """What some actions need from the worker beyond the store (None: not available here)."""

    #: The mapping rules in force (the guard's settings, the plan preview's projection).
    rules: Callable[[], MappingRules] | None = None
    #: The worker's reconcile (its client and settings), for "apply".
    reconcile: ReconcileJob | None = None

    @classmethod
    def of(cls, worker: Worker) -> ActionTools:
        """Return the tools of a running worker."""
        return cls(rules=lambda: worker.translator.rules, reconcile=worker.reconcile)


def carry_out_actions(
    db: Database,
    *,
    clock: Callable[[], datetime],
    wake: Callable[[], None],
    tools: ActionTools | None = None,
    only: Literal["all", "short", "long"] = "all",
) -> int:
    """Carry out the waiting console actions; wake the translator if any queued work.

    ``only``: "short" (all but plan and apply), "long" (those two), or "all"; the worker
    runs the short and the long ones as two jobs, so a reconcile never delays a retry."""
    tools = tools or ActionTools()
    kinds = () if only == "all" else LONG
    with db.read() as session:
        ids = console_actions.waiting_ids(
            session, limit=BATCH, kinds=kinds, exclude=only == "short"
        )
    done = 0
    for action_id in ids:
        try:
            with db.read() as session:
                waiting = session.get(ConsoleAction, action_id)
                kind = waiting.kind if waiting is not None else ""
            try:
                record = long_work(db, kind, tools, now=clock()) if kind in LONG else None
            except ReconcileBusy as exc:
                # Another reconcile (scheduled, or another worker doing this very action)
                # holds the lock: the action waits for the next turn rather than say so.
                log.info("console action %s waits: %s", action_id, exc)
                continue
            with db.write() as session:
                row = console_actions.claim(session, action_id)
                if row is None:
                    continue  # another worker has it
                if record is not None:
                    outcome = record(session)
                else:
                    outcome = carry_out(session, row, now=clock(), tools=tools)
                console_actions.finish(session, action_id, outcome=outcome, now=clock())
            done += 1
        except Exception as exc:  # one bad action must not stop the others
            log.exception("console action %s failed", action_id)
            with db.write() as session:
                why = f"failed: {type(exc).__name__}; see the worker's log"
                console_actions.finish(session, action_id, outcome=why, now=clock())
    if done:
        wake()
    return done


def carry_out(
    session: Session, row: ConsoleAction, *, now: datetime, tools: ActionTools | None = None
) -> str:
    """Do one action in the caller's transaction; return its outcome in plain words."""
    actor = f"console:{row.requested_by}"
    if row.kind in (ActionKind.RETRY, ActionKind.DROP):
        return _dead_letters(session, row, now=now, actor=actor)
    if row.kind == ActionKind.SYNC_NOW:
        mark_changed(session, "User", [row.target], actor=actor, now=now, lane=Lane.BULK)
        return "queued for DingTalk"
    if row.kind in (ActionKind.GUARD_CONFIRM, ActionKind.GUARD_REJECT):
        return _guard(session, row, now=now, actor=actor, tools=tools or ActionTools())
    return f"{row.kind} is not carried out by this version yet"


def _dead_letters(session: Session, row: ConsoleAction, *, now: datetime, actor: str) -> str:
    """Retry or drop dead letters: by id, a whole cause ("group:<key>"), or "all" (retry)."""
    if row.target.startswith(GROUP_PREFIX):
        # Resolved now, not when the page was drawn: letters that joined the cause since
        # are retried too, and a cause fixed meanwhile names nothing. A drop carries the
        # count the operator confirmed ("group:<key>@<count>") and forgets no more than that.
        key, _, confirmed = row.target.removeprefix(GROUP_PREFIX).partition("@")
        group = find_group(session, key)
        if group is None:
            return "nothing to do: no dead letter has this cause any more"
        if row.kind == ActionKind.DROP and confirmed != str(group.count):
            return (
                f"not carried out: the cause holds {group.count} letter(s) now, not the "
                f"{confirmed or '?'} confirmed; open the failures page and confirm again"
            )
        ids: list[int] | None = letter_ids(session, group)
    else:
        ids = None if row.target == ALL else _letter_ids(row.target)
    if row.kind == ActionKind.RETRY:
        if ids == []:
            return f"nothing to retry: {row.target!r} names no dead letter"
        count = dlq.retry(session, ids, now=now, actor=actor)
        return f"{count} dead letter(s) queued again"
    if not ids:
        return "drop needs dead-letter ids (dropping every letter at once is refused)"
    return f"{dlq.drop(session, ids)} dead letter(s) dropped"


def _guard(
    session: Session, row: ConsoleAction, *, now: datetime, actor: str, tools: ActionTools
) -> str:
    """Confirm or reject the guard's paused burst named by its token."""
    if tools.rules is None:
        return "not carried out: this worker has no mapping rules"
    rules = tools.rules()
    leavers = rules.leavers.action == "delete"
    act = guard.confirm_burst if row.kind == ActionKind.GUARD_CONFIRM else guard.reject_burst
    try:
        count = act(
            session, rules.guard, row.target, now=now, actor=actor, inactive_is_removal=leavers
        )
    except BridgeError as exc:  # a stale token: the burst changed since the page was drawn
        return f"not carried out: {exc}"
    if row.kind == ActionKind.GUARD_CONFIRM:
        return f"released {count} removal(s); the translator proceeds now"
    return f"rejected: {count} removal(s) stay held; those people stay in DingTalk"


def long_work(
    db: Database, kind: str, tools: ActionTools, *, now: datetime
) -> Callable[[Session], str]:
    """Do a long action's work now; return what records it in the action's transaction."""
    if kind == ActionKind.PLAN:
        if tools.rules is None:
            return lambda session: "not carried out: this worker has no mapping rules"
        preview = compute_preview(db, tools.rules(), now=now)

        def keep(session: Session) -> str:
            store_preview(session, preview, now=now)
            return f"plan preview computed: {preview.total} operation(s), {preview.calls} call(s)"

        return keep
    words = apply_drift(tools.reconcile)
    return lambda session: words


def apply_drift(job: ReconcileJob | None) -> str:
    """Reconcile now and queue the repairs through the outbox (as `reconcile --apply`).

    Raises ReconcileBusy when another reconcile holds the lock (the action then waits)."""
    if job is None:
        return "not carried out: this worker does not reconcile (DingTalk not configured)"
    try:
        client = job.client()
    except ConfigError as exc:
        return f"not carried out: {exc}"
    try:
        how = Reconciler(
            job.db, client, job.settings, job.rules(), clock=job.clock, trigger="console"
        )
        result = reconcile_full(how, apply=True)
    except ReconcileOverBudget as exc:
        return f"not carried out: {exc}"
    finally:
        if job.close_client:
            client.close()
    queued = len(result.repairs.queued) if result.repairs is not None else 0
    return (
        f"reconciled: {len(result.comparison.drift)} difference(s), "
        f"{queued} resource(s) queued for repair"
    )


def _letter_ids(target: str) -> list[int]:
    """Parse "12" or "12,13" into dead-letter ids; anything else names none."""
    try:
        return [int(part) for part in target.split(",") if part.strip()]
    except ValueError:
        return []


def sample_lag(db: Database, *, clock: Callable[[], datetime]) -> None:
    """Keep the overview's 24-hour lag history (monitor/lag_history.py) up to date."""
    with db.write() as session:
        record_lag_sample(session, now=clock())
