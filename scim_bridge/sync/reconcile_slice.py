"""Incremental reconcile: departments touched since the last run plus a rotating slice.

Issue 10 ("quota-aware"): a full walk costs a call per department and per page of members; an
organisation on a monthly call budget reads, each run, only the departments whose links changed
since the last full or incremental run, plus the next ``reconcile_incremental_slice`` of the
rest (in dept_id order, wrapping round), so every department is read within a bounded number of
runs. Each run stores where its slice ended (``slice_cursor``); the next one starts after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from scim_bridge.dingtalk.client import ROOT_DEPT_ID
from scim_bridge.mapping.model import Projection
from scim_bridge.sync import reconcile_runs
from scim_bridge.sync.decide import DEPT_LIST
from scim_bridge.sync.live_read import LiveDirectory
from scim_bridge.sync.reconcile_compare import Scope
from scim_bridge.sync.reconcile_estimate import Estimate, estimate_slice
from scim_bridge.sync.reconcile_inputs import Links

if TYPE_CHECKING:
    from scim_bridge.sync.reconcile import Reconciler


@dataclass(frozen=True)
class Slice:
    """The departments one incremental run reads, and where its rotating slice ended."""

    dept_ids: tuple[int, ...]
    cursor: int | None
    estimate: Estimate

    def scope(self, live: LiveDirectory, links: Links, desired: Projection) -> Scope:
        """Return who and what this run can judge: what lives, or should live, in its slice."""
        chosen = set(self.dept_ids)
        key_of = {dept_id: key for key, dept_id in links.dept_links.items()}
        keys = {key_of[d] for d in chosen if d in key_of}
        users = {k for k, snap in links.user_snapshots.items() if chosen & _depts(snap)}
        users |= {s for s, u in desired.users.items() if keys & set(u.department_keys)}
        if ROOT_DEPT_ID in chosen:  # people the mapping places in no department live at the root
            users |= {s for s, u in desired.users.items() if not u.department_keys}
        by_userid = links.by_userid
        users |= {by_userid[u] for u in live.users if u in by_userid}
        return Scope(
            users=frozenset(users),
            departments=frozenset(keys),
            orphans=frozenset(live.users),
            orphan_departments=frozenset(chosen),
        )

    def missing(self, live: LiveDirectory, links: Links, scope: Scope) -> list[str]:
        """Return linked people of the scope the slice did not find (moved away, or gone)."""
        return sorted(
            links.user_links[k]
            for k in scope.users
            if k in links.user_links and links.user_links[k] not in live.users
        )


def _depts(snapshot: dict) -> set[int]:
    return {int(d) for d in snapshot.get(DEPT_LIST) or []}


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def plan_slice(r: Reconciler, links: Links, detail: set[str]) -> Slice:
    """Choose this run's departments: touched since the last run, then the next slice."""
    last = reconcile_runs.last_survey(r.db)
    every = sorted({ROOT_DEPT_ID, *links.dept_links.values()})
    if last is None:
        touched = set(every)  # no run yet: nothing says what is unchanged
    else:
        since = _aware(last.started_at)
        touched = set()
        for (kind, key), at in links.touched.items():
            if at < since:
                continue
            if kind == "department" and key in links.dept_links:
                touched.add(links.dept_links[key])
            elif kind == "user" and key in links.user_snapshots:
                touched |= _depts(links.user_snapshots[key])
    rest = [d for d in every if d not in touched]
    after = (last.slice_cursor or 0) if last is not None else 0
    ordered = [d for d in rest if d > after] + [d for d in rest if d <= after]
    taken = ordered[: r.settings.reconcile_incremental_slice]
    ids = tuple(sorted(touched | set(taken)))
    chosen = set(ids)
    found = {links.user_links[k] for k, s in links.user_snapshots.items() if chosen & _depts(s)}
    estimate = estimate_slice(links, ids, details=len(detail & found))
    return Slice(ids, taken[-1] if taken else after, estimate)
