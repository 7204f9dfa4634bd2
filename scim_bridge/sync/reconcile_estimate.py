"""How many DingTalk calls a reconcile will make, known before it makes one (issue 10).

A walk costs (dingtalk-api.md §3.5, §4.4): one ``listsub`` per department and one for the root,
one ``department/get`` per department, ``ceil(members / 100)`` pages of ``v2/user/list`` per
department (one at least, the root included), and one ``user/get`` per person whose manager
matters. The bridge's links say how many departments and members DingTalk should have, which
is what it has unless it drifted: the estimate is exact when nothing drifted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from scim_bridge.dingtalk.client import ROOT_DEPT_ID, USER_LIST_MAX_SIZE
from scim_bridge.sync.decide import DEPT_LIST
from scim_bridge.sync.reconcile_inputs import Links


@dataclass(frozen=True)
class Estimate:
    """The calls a reconcile plans to make, by kind."""

    tree: int  # listsub
    departments: int  # department/get
    pages: int  # v2/user/list
    details: int  # user/get

    @property
    def total(self) -> int:
        """Return the calls in all."""
        return self.tree + self.departments + self.pages + self.details

    def words(self) -> str:
        """Say the estimate the way the CLI prints it."""
        return (
            f"about {self.total} DingTalk calls: {self.tree} department listings, "
            f"{self.departments} department reads, {self.pages} member pages, "
            f"{self.details} person reads"
        )


def members_by_department(links: Links) -> Counter[int]:
    """Count the linked people each department holds, as last applied."""
    counts: Counter[int] = Counter()
    for snapshot in links.user_snapshots.values():
        for dept_id in snapshot.get(DEPT_LIST) or []:
            counts[int(dept_id)] += 1
    return counts


def pages(members: int) -> int:
    """Return the ``v2/user/list`` calls one department's members take (one when empty)."""
    return max(1, -(-members // USER_LIST_MAX_SIZE))


def estimate_full(links: Links, *, departments: int, details: int) -> Estimate:
    """Estimate a walk of the whole directory of ``departments`` departments."""
    counts = members_by_department(links)
    known = set(links.dept_links.values()) - {ROOT_DEPT_ID}
    unknown = max(0, departments - len(known))  # wanted but not linked yet: empty, one page
    member_pages = pages(counts[ROOT_DEPT_ID]) + sum(pages(counts[d]) for d in known) + unknown
    return Estimate(
        tree=departments + 1, departments=departments, pages=member_pages, details=details
    )


def estimate_slice(links: Links, dept_ids: Iterable[int], *, details: int) -> Estimate:
    """Estimate an incremental read of these departments."""
    counts = members_by_department(links)
    wanted = list(dict.fromkeys(dept_ids))
    return Estimate(
        tree=0,
        departments=sum(1 for d in wanted if d != ROOT_DEPT_ID),
        pages=sum(pages(counts[d]) for d in wanted),
        details=details,
    )


def detail_count(wanted: Collection[str], among: Collection[str] | None = None) -> int:
    """Return how many person reads a read makes (``among``: only people it will find)."""
    return len(wanted) if among is None else len(set(wanted) & set(among))
