"""How long a full reconcile takes at DingTalk's quota, how much memory, how good the estimate.

Issue 10, acceptance 4: a reconcile of 10,000 users in 200 departments at 20 QPS should finish
within 110% of (calls needed / QPS), and its call estimate should be within 5% of the calls it
made. This seeds the directory through the directory services (SQLite in a temporary
directory), syncs it to the emulator unthrottled through the real worker, then throttles the
emulator to --qps per (app, API) (dingtalk-api.md §8) and reconciles with a client limited to
the same quota. The emulator is `scim-bridge emulator` in a process of its own, as DingTalk is
remote: in this process it would compete with reconcile for the interpreter. Prints numbers;
asserts nothing about timings.

Syncing 10,000 people through the worker takes most of an hour on a busy shared machine
(SQLite takes one writer at a time), so by default the synced state is written directly
(``--build direct``): the directory is projected with the mapping (sync/reconcile.py
``desired_state``, what the translator and reconcile use), each department and person gets the
link and last-applied snapshot the translator would record (sync/decide_snapshots.py,
decide_departments.py), the outbox is emptied as a drained worker leaves it, and the emulator
gets the same org in one ``POST /__emulator__/load``. The reconcile then reports drift 0 and
accuracy 100% when the two agree, which checks the shortcut. ``--build worker`` syncs through
the real worker instead. ``--cache DIR`` keeps what a run built (the SQLite store and the
emulator's state dump) for a later run of the same size. Only the reconcile is timed.

The quota is per API (dingtalk-api.md §8) and reconcile reads different APIs side by side
(sync/live_read.py), so beside (calls / QPS), the acceptance's yardstick, it prints the floor
those lanes allow: the busiest API's calls / QPS.

    .venv/bin/python bench/reconcile_bench.py --cache /tmp/recon-cache   # 10,000 users
    .venv/bin/python bench/reconcile_bench.py --users 200 --departments 10   # a quick run
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import delete, insert

from scim_bridge.bootstrap import build_worker
from scim_bridge.dingtalk.client import DingTalkClient
from scim_bridge.dingtalk.emulator.app import CONTROL_PREFIX
from scim_bridge.directory import groups, users
from scim_bridge.directory.db import Database, upgrade
from scim_bridge.directory.models import Link, OutboxEntry
from scim_bridge.directory.prepared import Cursor
from scim_bridge.directory.tokens import Principal
from scim_bridge.directory.users import Context
from scim_bridge.mapping.model import REMOVE, ROOT_DEPT_ID, SKIP
from scim_bridge.mapping.rules import load_rules, rules_path
from scim_bridge.settings import Settings
from scim_bridge.sync.decide_departments import department_snapshot
from scim_bridge.sync.decide_snapshots import HELD_ROLES, desired_person, user_fields
from scim_bridge.sync.reconcile import Reconciler, desired_state, reconcile_full
from scim_bridge.sync.worker import WorkerConfig

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
APP_KEY, APP_SECRET = "bench-app-key", "bench-app-secret"
CLI = str(Path(sys.executable).with_name("scim-bridge"))


@contextmanager
def emulator_process() -> Iterator[str]:
    """Run `scim-bridge emulator` unthrottled in its own process; yield its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    argv = [CLI, "emulator", "--port", str(port), "--qps", "0"]
    argv += ["--app-key", APP_KEY, "--app-secret", APP_SECRET]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):  # up to 60 s for it to listen (a busy machine starts slowly)
            try:
                requests.get(f"{url}{CONTROL_PREFIX}config", timeout=1).raise_for_status()
                break
            except requests.RequestException:
                time.sleep(0.1)
        else:
            raise RuntimeError("the emulator did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def throttle(url: str, qps: float) -> None:
    """Set the emulator's per-API quota through its control endpoint."""
    requests.post(f"{url}{CONTROL_PREFIX}config", json={"qps": qps}, timeout=5).raise_for_status()


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


class PerApi:
    """A CallObserver counting the calls of each DingTalk API (token fetches apart)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def call_finished(self, api: str, outcome: str, seconds: float) -> None:
        """Count one HTTP request by its path."""
        self.calls[api] += 1

    def token_fetched(self, ok: bool) -> None:
        """The token request was counted by call_finished."""


FIRST_DEPT_ID = 500_000_001  # where the emulator numbers departments from


def _link(kind: str, key: str, dingtalk_id: str, snapshot: dict[str, Any]) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "kind": kind,
        "key": key,
        "dingtalk_id": dingtalk_id,
        "state": "synced",
        "snapshot": snapshot,
        "attempts": 0,
        "last_synced_at": now,
        "updated_at": now,
    }


def synthesize(db: Database, settings: Settings) -> dict[str, Any]:
    """Write the links a drained worker leaves; return the emulator org it would have made."""
    projection = desired_state(db, load_rules(rules_path(settings)))
    dept_ids: dict[str, int] = {}
    departments, links = [], []
    for key, spec in projection.departments.items():  # parents first (mapping/project.py)
        dept_id = dept_ids[key] = FIRST_DEPT_ID + len(dept_ids)
        parent = dept_ids[spec.parent_key] if spec.parent_key else ROOT_DEPT_ID
        departments.append(
            {
                "dept_id": dept_id,
                "name": spec.name,
                "parent_id": parent,
                "order": spec.order or 0,
                "source_identifier": spec.source_identifier,
            }
        )
        links.append(_link("department", key, str(dept_id), department_snapshot(spec, parent)))
    people = []
    for scim_id, wanted in projection.users.items():
        if wanted.action in (REMOVE, SKIP):
            continue
        boss = projection.users.get(wanted.manager_scim_id or "")
        desired = desired_person(
            wanted, [dept_ids[k] for k in wanted.department_keys], boss.userid if boss else None
        )
        people.append(
            {
                **user_fields(desired),
                "userid": wanted.userid,
                "dept_id_list": desired["dept_id_list"],
                "manager_userid": desired["manager_userid"] or "",
            }
        )
        links.append(_link("user", scim_id, wanted.userid, {**desired, HELD_ROLES: []}))
    with db.write() as session:
        session.execute(insert(Link), links)
        session.execute(delete(OutboxEntry))  # a drained worker leaves nothing pending
    return {"users": people, "departments": departments}


def build(args: argparse.Namespace, db_file: Path, emulator_url: str) -> tuple[str, float]:
    """Make the synced store and DingTalk (from --cache when it has them); say how, how long."""
    started = time.monotonic()
    cached = None
    if args.cache:
        size = f"u{args.users}-d{args.departments}-m{args.manager_every}"
        cached = args.cache / f"{size}-{args.build}"
        if (cached / "emulator.json").exists():
            shutil.copyfile(cached / "bench.db", db_file)
            db_file.chmod(0o600)  # it holds personal data: the bridge refuses a readable file
            snapshot = json.loads((cached / "emulator.json").read_text())
            load = requests.post(f"{emulator_url}{CONTROL_PREFIX}load", json=snapshot, timeout=300)
            load.raise_for_status()
            return f"from the cache {cached}", time.monotonic() - started
    url = f"sqlite:///{db_file}"
    upgrade(url)
    db = Database(url)
    seed(db, people=args.users, departments=args.departments, manager_every=args.manager_every)
    if args.build == "direct":
        org = synthesize(db, Settings(database_url=url))
        requests.post(
            f"{emulator_url}{CONTROL_PREFIX}load", json=org, timeout=300
        ).raise_for_status()
        how = "seeded through the directory services; links and DingTalk's org written directly"
    else:
        syncing = client(emulator_url, 1000)
        settings = Settings(database_url=url)
        worker = build_worker(settings, db, client=syncing, config=WorkerConfig())
        worker.run_until_idle(timeout=3600)
        syncing.close()
        how = "seeded through the directory services, synced by the worker"
    db.dispose()
    if cached is not None:
        cached.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(db_file, cached / "bench.db")
        (cached / "bench.db").chmod(0o600)
        state = requests.get(f"{emulator_url}{CONTROL_PREFIX}state", timeout=300)
        (cached / "emulator.json").write_text(state.text)
    return how, time.monotonic() - started


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Seed (or load), throttle, reconcile; return the figures."""
    with tempfile.TemporaryDirectory() as tmp, emulator_process() as emulator_url:
        db_file = Path(tmp) / "bench.db"
        how, built_s = build(args, db_file, emulator_url)
        url = f"sqlite:///{db_file}"
        settings = Settings(database_url=url)
        db = Database(url)
        throttle(emulator_url, args.qps)
        per_api = PerApi()
        reading = DingTalkClient(
            app_key=APP_KEY,
            app_secret=APP_SECRET,
            oapi_url=emulator_url,
            api_url=emulator_url,
            qps=args.qps,
            observer=per_api,
        )
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
    busiest, most = per_api.calls.most_common(1)[0]
    return {
        "users": args.users,
        "departments": args.departments,
        "qps": args.qps,
        "built": how,
        "built_s": round(built_s, 1),
        "calls_made": result.calls_made,
        "calls_estimated": estimates[0],
        "estimate_error_percent": round(
            100 * abs(estimates[0] - result.calls_made) / max(1, result.calls_made), 2
        ),
        "elapsed_s": round(elapsed, 2),
        "minimum_s": round(minimum, 2),
        "elapsed_over_minimum_percent": round(100 * elapsed / minimum, 1) if minimum else 0.0,
        "calls_per_api": dict(per_api.calls.most_common()),
        "busiest_api_floor_s": f"{most / args.qps:.2f} ({busiest})",
        "elapsed_over_busiest_api_floor_percent": round(100 * elapsed / (most / args.qps), 1),
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
    parser.add_argument(
        "--build",
        choices=("direct", "worker"),
        default="direct",
        help="write the synced state directly (default) or sync through the worker",
    )
    parser.add_argument(
        "--cache", type=Path, default=None, help="keep/reuse the synced store and DingTalk here"
    )
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
