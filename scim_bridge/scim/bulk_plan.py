"""The order a Bulk request's operations run in, from their bulkId references (RFC 7644 §3.7).

An operation that references ``bulkId:X`` runs after the POST that declares bulkId X
(§3.7.2); operations that reference nothing run in request order. The order is worked out once,
before anything runs, in time linear in the number of operations and references (Kahn's
algorithm, smallest request index first). Operations on a circle of references cannot be
ordered: §3.7.1 lets the service provider answer 409 for them, and so does every operation
that waits on one. A bulkId declared by two POSTs is refused the second time: bulkIds are
"unique within a bulk request" (§3.7).
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from scim_bridge.errors import Conflict, InvalidValue, ScimError


@dataclass(frozen=True)
class Step:
    """Run operation ``index``, or answer with ``refusal`` instead of running it."""

    index: int
    refusal: ScimError | None = None


def plan(declares: Sequence[str | None], references: Sequence[Collection[str]]) -> list[Step]:
    """Order operations so each runs after the POSTs it references; refuse what cannot run.

    ``declares[i]`` is the bulkId operation i's POST declares (None for other operations);
    ``references[i]`` the bulkIds it references. A reference no POST declares is left to fail
    when the operation runs, like one to a POST that failed.
    """
    owner: dict[str, int] = {}
    refusals: dict[int, ScimError] = {}
    for index, bulk_id in enumerate(declares):
        if bulk_id is None:
            continue
        if bulk_id in owner:
            refusals[index] = InvalidValue(
                f"bulkId {bulk_id} is already declared by operation {owner[bulk_id] + 1}; "
                "bulkIds are unique within a bulk request (RFC 7644 §3.7)"
            )
        else:
            owner[bulk_id] = index
    waits_on = [sorted({owner[r] for r in refs if r in owner}) for refs in references]
    order, stuck = _topological(waits_on)
    steps = [Step(i, refusals.get(i)) for i in order]
    circular = _on_circles(stuck, waits_on)
    for index in sorted(stuck):
        steps.append(Step(index, _circular(index, declares, waits_on, circular, stuck)))
    return steps


def _topological(waits_on: list[list[int]]) -> tuple[list[int], set[int]]:
    """Return the operations in dependency order (smallest index first) and those left over."""
    count = len(waits_on)
    pending = [len(deps) for deps in waits_on]
    unblocks: list[list[int]] = [[] for _ in range(count)]
    for index, deps in enumerate(waits_on):
        for dep in deps:
            unblocks[dep].append(index)
    ready = [i for i in range(count) if pending[i] == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        index = heapq.heappop(ready)
        order.append(index)
        for later in unblocks[index]:
            pending[later] -= 1
            if pending[later] == 0:
                heapq.heappush(ready, later)
    return order, set(range(count)) - set(order)


def _on_circles(stuck: set[int], waits_on: list[list[int]]) -> dict[int, list[int]]:
    """Map each operation on a circle of references to the operations of its circle.

    Tarjan's strongly connected components, iteratively (a long circle must not exhaust the
    Python stack), over the operations left unordered.
    """
    number: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    circles: dict[int, list[int]] = {}
    edges = {node: [d for d in waits_on[node] if d in stuck] for node in stuck}
    for root in sorted(stuck):
        if root in number:
            continue
        work = [(root, 0)]
        while work:
            node, edge = work.pop()
            if edge == 0:
                number[node] = low[node] = len(number)
                stack.append(node)
                on_stack.add(node)
            deps = edges[node]
            if edge < len(deps):
                work.append((node, edge + 1))
                dep = deps[edge]
                if dep not in number:
                    work.append((dep, 0))
                elif dep in on_stack:
                    low[node] = min(low[node], number[dep])
                continue
            if work:  # report our low link to the operation that walked to us
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == number[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in waits_on[node]:
                    component.sort()
                    for member in component:
                        circles[member] = component  # one list, shared
    return circles


#: How many bulkIds of a circle an error names (a circle can hold every operation).
_NAMED = 5


def _circular(
    index: int,
    declares: Sequence[str | None],
    waits_on: list[list[int]],
    circles: dict[int, list[int]],
    stuck: set[int],
) -> ScimError:
    """Say why an operation cannot run: it is on a circle, or waits on one."""
    where = "create the resources first, then PATCH the references (RFC 7644 §3.7.1)"
    if index in circles:
        circle = circles[index]
        names = ", ".join(str(declares[i]) for i in circle[:_NAMED])
        if len(circle) > _NAMED:
            names += f" and {len(circle) - _NAMED:,} more"
        return Conflict(f"circular bulkId references: bulkIds {names} refer to each other; {where}")
    blocker = next(d for d in waits_on[index] if d in stuck)
    return Conflict(
        f"bulkId {declares[blocker]} created no resource: it is part of, or waits on, "
        f"circular bulkId references; {where}"
    )
