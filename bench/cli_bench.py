"""`scim-bridge plan` and `scim-bridge quality` end to end on a large directory.

Seeds a SQLite directory (default 100,000 users in 200 groups, with managers) through the
service layer, then times the two commands as an operator runs them, reading from the
database: `plan --source links --format json` and `quality --format json`. Targets: plan
under 30 s, quality under 20 s. Prints numbers and writes the section "## plan and quality
commands" of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from report import machine_line, replace_section

from scim_bridge.directory import groups, users
from scim_bridge.directory.db import Database, upgrade
from scim_bridge.directory.rows import Context
from scim_bridge.directory.tokens import Principal

CLI = str(Path(sys.executable).with_name("scim-bridge"))
SECTION = "## plan and quality commands"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def seed(url: str, people: int, group_count: int) -> float:
    """Create the directory through the services; return the seconds it took."""
    started = time.monotonic()
    upgrade(url)
    db = Database(url)
    ctx = Context(principal=Principal(1, "bench", "bench", "okta"), now=datetime.now(UTC))
    ids: list[str] = []
    chunk = 2000
    for first in range(0, people, chunk):
        with db.write() as session:
            for i in range(first, min(people, first + chunk)):
                body = {
                    "userName": f"p{i:06d}@example.com",
                    "externalId": f"p{i:06d}",
                    "displayName": f"Person {i:06d}",
                    "title": "Engineer",
                    "phoneNumbers": [{"value": f"+86 138{i:08d}", "type": "mobile"}],
                    "emails": [{"value": f"p{i:06d}@example.com", "type": "work"}],
                    # Every 50th person manages the next 49.
                    ENTERPRISE: (
                        {"employeeNumber": str(i), "manager": {"value": ids[i - i % 50]}}
                        if i % 50
                        else {"employeeNumber": str(i)}
                    ),
                }
                ids.append(users.create_user(session, body, ctx).id)
        print(f"\rseeded {len(ids)}/{people}", end="", file=sys.stderr)
    print(file=sys.stderr)
    with db.write() as session:
        for g in range(group_count):
            members = [{"value": uid} for uid in ids[g::group_count]]
            groups.create_group(session, {"displayName": f"Team {g:03d}", "members": members}, ctx)
    db.dispose()
    return time.monotonic() - started


def timed(url: str, *args: str) -> tuple[float, int]:
    """Run a scim-bridge command; return wall-clock seconds and the exit code."""
    env = {**os.environ, "SCIM_BRIDGE_DATABASE_URL": url}
    started = time.monotonic()
    done = subprocess.run(
        [CLI, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
    )
    return time.monotonic() - started, done.returncode


def main() -> None:
    """Seed, time both commands, print and record the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'directory.db'}"
        seeded = seed(url, args.users, args.groups)
        plan_s, plan_rc = timed(url, "plan", "--source", "links", "--format", "json")
        quality_s, quality_rc = timed(url, "quality", "--format", "json")
    rows = [
        ("seeding (not timed against a target)", f"{seeded:.1f} s", ""),
        ("`plan --source links --format json`", f"{plan_s:.1f} s (exit {plan_rc})", "< 30 s"),
        ("`quality --format json`", f"{quality_s:.1f} s (exit {quality_rc})", "< 20 s"),
    ]
    table = ["| step | wall clock | target |", "|---|---|---|"]
    table += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    print("\n".join(table))
    if not args.no_docs:
        machine = machine_line()
        section = "\n".join(
            [
                SECTION,
                "",
                f"{date.today().isoformat()}, {machine}. `python bench/cli_bench.py "
                f"{' '.join(sys.argv[1:])}`. {args.users:,} users in {args.groups} groups with "
                "managers, in SQLite; each command is a fresh process that reads the whole "
                "directory from the database (default mapping). quality exits 1 when it finds "
                "blocking problems; this directory has none, so 0 is expected.",
                "",
                *table,
                "",
            ]
        )
        replace_section(SECTION, section)


if __name__ == "__main__":
    main()
