"""A plan for people (a table) and for tools (JSON); endpoints named by dingtalk/client.py."""

from __future__ import annotations

import json
from typing import Any

from scim_bridge.dingtalk.client import endpoint_of
from scim_bridge.sync.decide import Operation, jsonable
from scim_bridge.sync.plan import TARGETS, Plan, writes


def api_of(op: Operation) -> str:
    """Return the DingTalk endpoint an operation calls ('' for link, unlink and conflict)."""
    return endpoint_of(op.target, op.kind) if writes(op) else ""


def operation_dict(op: Operation) -> dict[str, Any]:
    """Return one operation as JSON-able data."""
    out: dict[str, Any] = {
        "kind": str(op.kind),
        "target": str(op.target),
        "key": op.key,
        "id": op.ident,
        "name": op.name,
        "api": api_of(op),
        "changes": [c.to_dict() for c in op.changes],
    }
    if op.reason:
        out["reason"] = op.reason
    return out


def plan_dict(result: Plan) -> dict[str, Any]:
    """Return the plan as JSON-able data."""
    return {"steps": [operation_dict(s) for s in result.steps], "totals": result.totals}


def render_plan(result: Plan, fmt: str = "table") -> str:
    """Render a plan as a table for people or as JSON for tools."""
    if fmt == "json":
        # Compact: indent would take the pure-Python encoder, several times slower at 100k.
        return json.dumps(plan_dict(result), ensure_ascii=False, separators=(",", ":")) + "\n"
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}; use table or json")
    lines = [f"{'#':>6}  {'ACTION':<8} {'TARGET':<10} {'ID':<24} {'NAME':<24} KEY"]
    for n, step in enumerate(result.steps, 1):
        lines.append(
            f"{n:>6}  {step.kind:<8} {step.target:<10} {_cut(step.ident, 24):<24} "
            f"{_cut(step.name, 24):<24} {step.key}"
        )
        for change in step.changes:
            if step.kind == "create":
                lines.append(f"{'':>16}{change.field}: {_show(change.new)}")
            else:
                lines.append(f"{'':>16}{change.field}: {_show(change.old)} -> {_show(change.new)}")
        if step.reason:
            lines.append(f"{'':>16}({step.reason})")
    lines.append("")
    lines.append("Totals")
    totals = result.totals
    for target in TARGETS:
        for kind, count in totals[target].items():
            lines.append(f"  {target:<10} {kind:<8} {count:>8}")
    lines.append(f"  {'DingTalk calls':<19} {totals['calls']:>8}")
    if not result.steps:
        lines.append("Nothing to do: DingTalk already matches the directory.")
    return "\n".join(lines) + "\n"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _show(value: Any) -> str:
    if value is None:
        return "-"
    return json.dumps(jsonable(value), ensure_ascii=False)
