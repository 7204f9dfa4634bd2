"""The worker computes the console's plan preview (a ``plan`` console action, issue 13).

The same engine as ``scim-bridge plan --source links``: the directory read as SCIM renders it,
projected by the mapping in force, compared with what the bridge last applied (its links), so
no DingTalk call is made; the summary is stored by monitor/plan_preview.py for the page.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Any

from scim_bridge.directory.db import Database
from scim_bridge.mapping.project import project_directory
from scim_bridge.mapping.rules import MappingRules
from scim_bridge.monitor.plan_preview import ROWS_PER_KIND, PlanPreview, PreviewKind
from scim_bridge.sync.decide import Operation, jsonable
from scim_bridge.sync.dryrun import current_from_links, load_directory
from scim_bridge.sync.plan import KINDS, TARGETS, Plan, plan, writes


def compute_preview(db: Database, rules: MappingRules, *, now: datetime) -> PlanPreview:
    """Plan the whole directory against the links and summarise it for the console."""
    users, groups = load_directory(db)
    result = plan(project_directory(users, groups, rules), current_from_links(db))
    return summarise(result, fingerprint=rules.fingerprint, now=now)


def summarise(result: Plan, *, fingerprint: str, now: datetime) -> PlanPreview:
    """Return a plan's counts by target and kind, with the first rows of each."""
    counts: Counter[tuple[str, str]] = Counter()
    rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for step in result.steps:
        slot = (str(step.target), str(step.kind))
        counts[slot] += 1
        kept = rows.setdefault(slot, [])
        if len(kept) < ROWS_PER_KIND:
            kept.append(_row(step))
    kinds = tuple(
        PreviewKind(target, kind, counts[(target, kind)], tuple(rows[(target, kind)]))
        for target in TARGETS
        for kind in KINDS
        if counts[(target, kind)]
    )
    calls = sum(1 for s in result.steps if writes(s))
    return PlanPreview(computed_at=now, fingerprint=fingerprint, calls=calls, kinds=kinds)


def _row(step: Operation) -> dict[str, Any]:
    return {
        "name": step.name,
        "key": step.key,
        "id": step.ident,
        "reason": step.reason,
        "changes": [[c.field, _text(c.old), _text(c.new)] for c in step.changes],
    }


def _text(value: Any) -> str:
    # As `plan`'s table shows a value: "-" for none, else JSON.
    return "-" if value is None else json.dumps(jsonable(value), ensure_ascii=False)
