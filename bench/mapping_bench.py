"""Benchmark the mapping engine: project + plan and the quality report on 100,000 users.

Targets (issue acceptance 5): plan on 100k users < 30 s, quality < 20 s.
Prints a table and writes the figures under "## Mapping engine" in docs/benchmarks.md.

Run: .venv/bin/python bench/mapping_bench.py [--users N] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scim_bridge.mapping import (
    load_rules,
    project_directory,
    quality_report,
)
from scim_bridge.mapping.attributes import normalise_phone
from scim_bridge.mapping.rules import default_rules_path
from scim_bridge.sync.plan import CurrentState, plan
from scim_bridge.sync.plan_render import render_plan

ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
SECTION = "## Mapping engine"
PLAN_TARGET, QUALITY_TARGET = 30.0, 20.0
HEADER = (
    "# Benchmarks\n\nFigures printed by the scripts in `bench/`, run on the project's machine.\n"
)


def directory(n: int, *, seed: int = 7) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Make n SCIM users in 200 groups, with managers, leavers and a few bad records."""
    rng = random.Random(seed)
    groups = [
        {"id": f"g{i:03d}", "displayName": f"Team {i:03d}", "members": []} for i in range(200)
    ]
    users = []
    for i in range(n):
        uid = f"u{i:06d}"
        group = groups[i % len(groups)]
        group["members"].append({"value": uid, "type": "User"})
        user: dict[str, Any] = {
            "id": uid,
            "externalId": f"00u{i:012x}",
            "userName": f"user{i}@acme.example",
            "name": {"givenName": "User", "familyName": str(i)},
            "displayName": f"User {i}",
            "title": rng.choice(["Engineer", "Manager", "Analyst", "Designer"]),
            "active": rng.random() > 0.02,
            "emails": [{"value": f"user{i}@acme.example", "type": "work", "primary": True}],
            "phoneNumbers": [{"value": f"+86 139 {i:08d}", "type": "mobile"}],
            "groups": [{"value": group["id"], "display": group["displayName"]}],
            ENT: {"employeeNumber": f"E{i:06d}", "organization": "Acme"},
        }
        if i >= len(groups):
            # Each group's first member manages the rest of it.
            user[ENT]["manager"] = {"value": f"u{i % len(groups):06d}"}
        if i % 5000 == 1:
            user["phoneNumbers"][0]["value"] = "12345"  # a few invalid mobiles
        users.append(user)
    return users, groups


def timed(fn: Any) -> tuple[Any, float]:
    """Run fn once and return its result and the wall-clock seconds it took."""
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table and record it in docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--no-write", action="store_true", help="don't touch docs/benchmarks.md")
    args = parser.parse_args(argv)

    rules = load_rules(default_rules_path())
    users, groups = directory(args.users)

    projection, t_project = timed(lambda: project_directory(users, groups, rules))
    result, t_plan = timed(lambda: plan(projection, CurrentState()))
    _, t_render = timed(lambda: render_plan(result, "json"))
    # A CLI run starts cold: don't let quality reuse the phone numbers project parsed.
    normalise_phone.cache_clear()
    report, t_quality = timed(lambda: quality_report(users, groups, rules))

    plan_total = t_project + t_plan
    rows = [
        ("project_directory", t_project, ""),
        ("plan (empty DingTalk)", t_plan, ""),
        ("project + plan", plan_total, f"target < {PLAN_TARGET:g} s"),
        ("render_plan json", t_render, ""),
        ("quality_report", t_quality, f"target < {QUALITY_TARGET:g} s"),
    ]
    print(f"{'step':<24} {'seconds':>8}  note")
    for name, seconds, note in rows:
        print(f"{name:<24} {seconds:>8.2f}  {note}")
    print(
        f"\n{args.users} users, {len(groups)} groups: {len(result.steps)} plan steps "
        f"({result.totals['calls']} calls), {len(report.findings)} quality findings"
    )
    ok = plan_total < PLAN_TARGET and t_quality < QUALITY_TARGET
    print("targets met" if ok else "TARGETS MISSED")
    if not args.no_write:
        record(args.users, len(groups), rows, result.totals["calls"], len(report.findings))
    return 0 if ok else 1


def record(
    users: int, groups: int, rows: list[tuple[str, float, str]], calls: int, findings: int
) -> None:
    """Replace the "## Mapping engine" section of docs/benchmarks.md (other sections kept)."""
    lines = [
        SECTION,
        "",
        f"`bench/mapping_bench.py`, {datetime.now(UTC):%Y-%m-%d}, "
        f"Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs. {users:,} users in {groups} groups (default mapping; managers, "
        f"2% leavers, a few invalid mobiles); plan against an empty DingTalk ({calls:,} calls); "
        f"quality found {findings:,} findings. One run, wall-clock seconds.",
        "",
        "| step | seconds | target |",
        "|---|---:|---|",
        *(
            f"| {name} | {seconds:.2f} | {note.replace('target ', '')} |"
            for name, seconds, note in rows
        ),
        "",
    ]
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else HEADER
    start = text.find(SECTION)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + "\n".join(lines)
    else:
        end = text.find("\n## ", start + len(SECTION))
        tail = text[end + 1 :] if end >= 0 else ""
        text = text[:start] + "\n".join(lines) + ("\n" + tail if tail else "")
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
    print(f"recorded in {DOC}")


if __name__ == "__main__":
    sys.exit(main())
