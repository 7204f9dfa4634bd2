"""How long a full reconcile takes at DingTalk's quota, how much memory, how good the estimate.

Issue 10, acceptance 4: a reconcile of 10,000 users in 200 departments at 20 QPS should finish
within 110% of (calls needed / QPS), and its call estimate should be within 5% of the calls it
made. This seeds the directory through the directory services (SQLite in a temporary
directory), syncs it to the emulator unthrottled through the real worker, then throttles the
emulator to --qps per (app, API) (dingtalk-api.md §8) and reconciles with a client limited to
the same quota. Prints numbers; asserts nothing about timings.

    .venv/bin/python bench/reconcile_bench.py                       # 10,000 users (minutes)
    .venv/bin/python bench/reconcile_bench.py --users 200 --departments 10   # a quick run
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scim_bridge.bootstrap import build_worker
from scim_bridge.dingtalk.client import DingTalkClient
from scim_bridge.dingtalk.emulator import EmulatorConfig, start_emulator
from scim_bridge.directory import groups, users
from scim_bridge.directory.db import Database, upgrade
from scim_bridge.directory.prepared import Cursor
from scim_bridge.directory.tokens import Principal
from scim_bridge.directory.users import Context
from scim_bridge.mapping.rules import load_rules, rules_path
from scim_bridge.settings import Settings
from scim_bridge.sync.reconcile import Reconciler, reconcile_full
from scim_bridge.sync.worker import WorkerConfig

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
APP_KEY, APP_SECRET = "bench-app-key", "bench-app-secret"


def person(i: int, manager: str | None) -> dict[str, Any]:
    """An Okta-like user body, with a manager for some."""
    body: dict[str, Any] = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "userName": f"recon{i:06d}@example.com",
        "externalId": f"r{i:06d}",
        "displayName": f"Recon {i:06d}",
        "title": "Engineer",
        "phoneNumbers": [{"value": f"+86 135{i:08d}", "type": "mobile"}],
        "emails": [{"value": f"recon{i:06d}@example.com", "type": "work", "primary": True}],
    }
    if manager:
        body[ENTERPRISE] = {"manager": {"value": manager}}
    return body


def seed(db: Database, *, people: int, departments: int, manager_every: int) -> None:
    """Write the directory: people spread over departments, one in ``manager_every`` managed."""
    ctx = Context(principal=Principal(1, "bench", "bench", "auto"), now=datetime.now(UTC))
    members: dict[int, list[str]] = {d: [] for d in range(departments)}
    with db.write() as session:
        for i in range(people):
            dept = i % departments
            head = members[dept][0] if members[dept] else None
            manager = head if manager_every and i % manager_every == manager_every - 1 else None
            created = users.create_user(Cursor.of(session), person(i, manager), ctx)
            members[dept].append(created.id)
        for dept, ids in members.items():
            body = {"displayName": f"Dept {dept:03d}", "members": [{"value": m} for m in ids]}
            groups.create_group(session, body, ctx)


def client(url: str, qps: float) -> DingTalkClient:
    """A client of the emulator at ``url`` limited to ``qps`` per API."""
    return DingTalkClient(
        app_key=APP_KEY, app_secret=APP_SECRET, oapi_url=url, api_url=url, qps=qps
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Seed, sync, throttle, reconcile; return the figures."""
    config = EmulatorConfig(app_key=APP_KEY, app_secret=APP_SECRET, qps=0)
    with tempfile.TemporaryDirectory() as tmp, start_emulator(config) as running:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        settings = Settings(database_url=url)
        db = Database(url)
        seed(db, people=args.users, departments=args.departments, manager_every=args.manager_every)
        syncing = client(running.url, 1000)
        worker = build_worker(settings, db, client=syncing, config=WorkerConfig(threads=8))
        started = time.monotonic()
        worker.run_until_idle(timeout=3600)
        synced_s = time.monotonic() - started
        syncing.close()
        running.emulator.configure(qps=args.qps)
        reading = client(running.url, args.qps)
        r = Reconciler(db, reading, settings, load_rules(rules_path(settings)))
        estimates: list[int] = []
        r.on_estimate = lambda e: estimates.append(e.total)
        if args.tracemalloc:
            tracemalloc.start()
        started = time.monotonic()
        result = reconcile_full(r)
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1] if args.tracemalloc else 0
        stats = reading.stats()
        reading.close()
        db.dispose()
    minimum = result.calls_made / args.qps
    return {
        "users": args.users,
        "departments": args.departments,
        "qps": args.qps,
        "sync_s": round(synced_s, 1),
        "calls_made": result.calls_made,
        "calls_estimated": estimates[0],
        "estimate_error_percent": round(
            100 * abs(estimates[0] - result.calls_made) / max(1, result.calls_made), 2
        ),
        "elapsed_s": round(elapsed, 2),
        "minimum_s": round(minimum, 2),
        "elapsed_over_minimum_percent": round(100 * elapsed / minimum, 1) if minimum else 0.0,
        "throttled_answers": stats.throttled,
        "limiter_wait_s": round(stats.limiter_wait_s, 2),
        "drift": len(result.comparison.drift),
        "accuracy_percent": result.comparison.accuracy_percent,
        "tracemalloc_peak_mb": round(peak / 2**20, 1),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run once, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--departments", type=int, default=200)
    parser.add_argument("--qps", type=float, default=20.0)
    parser.add_argument(
        "--manager-every", type=int, default=10, help="one person in N has a manager (user/get)"
    )
    parser.add_argument("--tracemalloc", action="store_true", help="also trace Python memory")
    args = parser.parse_args(argv)
    figures = run(args)
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key.ljust(width)}  {value}")
    verdict = (
        "within 110% of calls/QPS"
        if figures["elapsed_over_minimum_percent"] <= 110
        else "SLOWER than 110% of calls/QPS"
    )
    print(
        f"{'verdict'.ljust(width)}  {verdict}; estimate off by {figures['estimate_error_percent']}%"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
