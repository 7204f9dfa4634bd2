"""What the SCIM audit trail costs a write, in-process, on SQLite and PostgreSQL.

The same build writes with the trail off and on, alternating round by round (drift on a
shared machine then hits both sides): POST (``users.create_user``) and PATCH active
(``users.patch_user``), each in its own ``Database.transaction`` as the HTTP views run them,
from a pool of threads (on PostgreSQL they write in parallel: the trail must not serialise
them). No HTTP, so the difference is not lost in the noise of a loaded machine;
``scim_load.py --audit-compare`` measures the same over HTTP. Prints numbers; asserts nothing.

``--app`` measures through the Flask app instead (its test client, one request at a time, the
trail switched by SCIM_BRIDGE_AUDIT_ENABLED): the whole request path a SCIM write pays, token
check, parsing and rendering included, without an HTTP server's noise. Its CPU column is the
fair denominator for the trail's share of a request.

    .venv/bin/python bench/audit_overhead.py
    .venv/bin/python bench/audit_overhead.py --app --rounds 20 --ops 100
    .venv/bin/python bench/audit_overhead.py --postgres postgresql://postgres@127.0.0.1:55433/postgres

``--instructions`` counts instead of timing (bench/instructions.py, under callgrind): the
instructions per POST and PATCH /Users through the app with the trail off and on, the
sequencer's share per record included, and the ratio; repeatable where wall time is not.

    .venv/bin/python bench/audit_overhead.py --instructions --ops 100
    .venv/bin/python bench/audit_overhead.py --instructions --ops 100 --postgres postgresql://...
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scim_load_data import user_body

from scim_bridge.app import create_app
from scim_bridge.directory import users
from scim_bridge.directory.db import Database, normalise_url, upgrade
from scim_bridge.directory.prepared import Cursor
from scim_bridge.directory.rows import Context
from scim_bridge.directory.tokens import Principal, create_token
from scim_bridge.settings import Settings

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
PRINCIPAL = Principal(token_id=1, name="bench", idp="okta", profile="okta")


Job = Callable[[Cursor], object]
_PATCH_BODY = {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": False}}]}


def rate(database: Database, threads: int, jobs: list[Job]) -> tuple[float, float]:
    """Run each job in its own write transaction from ``threads`` threads; return ops/s and
    this process's CPU milliseconds per op (steadier than wall time on a shared machine;
    SQLite's own work is in this process, PostgreSQL's is not)."""

    def one(job: Job) -> None:
        with database.transaction() as cur:
            job(cur)

    started, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, jobs))
    spent = (time.process_time() - cpu) * 1000 / len(jobs)
    return len(jobs) / (time.perf_counter() - started), spent


def _create(ids: list[str], index: int, ctx: Context, cur: Cursor) -> None:
    ids.append(users.create_user(cur, user_body(index), ctx).id)


def _patch(user_id: str, ctx: Context, cur: Cursor) -> None:
    users.patch_user(cur, user_id, _PATCH_BODY, ctx)


def measure(database: Database, *, threads: int, ops: int, rounds: int) -> dict[str, list[float]]:
    """Return ops/s per (operation, trail) over the rounds."""
    out: dict[str, list[float]] = {}
    counter = 0
    for n in range(rounds):
        for audit in (False, True) if n % 2 == 0 else (True, False):
            ctx = Context(principal=PRINCIPAL, now=datetime.now(UTC), audit=audit)
            ids: list[str] = []
            creates: list[Job] = [
                partial(_create, ids, i, ctx) for i in range(counter, counter + ops)
            ]
            counter += ops
            key = "on" if audit else "off"
            for op in ("POST", "PATCH"):
                jobs = creates if op == "POST" else [partial(_patch, uid, ctx) for uid in ids]
                ops_s, cpu_ms = rate(database, threads, jobs)
                out.setdefault(f"{op} {key}", []).append(ops_s)
                out.setdefault(f"{op} {key} cpu", []).append(cpu_ms)
    return out


def measure_app(url: str, *, ops: int, rounds: int) -> dict[str, list[float]]:
    """Return ops/s and CPU ms/op per (operation, trail) over the rounds, through the app."""
    database = Database(url)
    with database.write() as session:
        _row, token = create_token(session, "bench", now=datetime.now(UTC))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    clients = {
        audit: create_app(
            Settings(database_url=url, audit_enabled=audit), db=database
        ).test_client()
        for audit in (False, True)
    }
    out: dict[str, list[float]] = {}
    counter = 0
    for n in range(rounds):
        for audit in (False, True) if n % 2 == 0 else (True, False):
            client, key, ids = clients[audit], "on" if audit else "off", []
            started, cpu = time.perf_counter(), time.process_time()
            for i in range(counter, counter + ops):
                answer = client.post("/scim/v2/Users", json=user_body(i), headers=headers)
                assert answer.status_code == 201, answer.data
                ids.append(answer.get_json()["id"])
            _note(out, f"POST {key}", ops, started, cpu)
            counter += ops
            started, cpu = time.perf_counter(), time.process_time()
            for user_id in ids:
                answer = client.patch(
                    f"/scim/v2/Users/{user_id}", json=_PATCH_BODY, headers=headers
                )
                assert answer.status_code in (200, 204), answer.data
            _note(out, f"PATCH {key}", ops, started, cpu)
    database.dispose()
    return out


def _note(out: dict[str, list[float]], key: str, ops: int, started: float, cpu: float) -> None:
    out.setdefault(key, []).append(ops / (time.perf_counter() - started))
    out.setdefault(f"{key} cpu", []).append((time.process_time() - cpu) * 1000 / ops)


def report(name: str, results: dict[str, list[float]]) -> None:
    """Print the medians and the on/off ratio per operation."""
    print(f"\n{name}")
    print(
        "| operation | off ops/s (median) | on ops/s (median) | on / off | rounds off | "
        "rounds on | CPU ms/op off | CPU ms/op on |"
    )
    print("|---|---:|---:|---:|---|---|---:|---:|")
    for op in ("POST", "PATCH"):
        off, on = results[f"{op} off"], results[f"{op} on"]
        a, b = statistics.median(off), statistics.median(on)
        cpu_off = statistics.median(results[f"{op} off cpu"])
        cpu_on = statistics.median(results[f"{op} on cpu"])
        print(
            f"| {op} | {a:.0f} | {b:.0f} | {b / a:.2f} | {_each(off)} | {_each(on)} | "
            f"{cpu_off:.2f} | {cpu_on:.2f} |"
        )


def _each(rates: list[float]) -> str:
    return ", ".join(f"{x:.0f}" for x in rates)


def fresh_postgres(base: str) -> tuple[str, Callable[[], None]]:
    """Create an empty database next to ``base``; return its URL and how to drop it."""
    admin_url = make_url(normalise_url(base))
    name = f"scim_bridge_audit_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return admin_url.set(database=name).render_as_string(hide_password=False), drop


def count_instructions(args: argparse.Namespace) -> int:
    """Print the instructions per write with the trail off and on, SQLite then PostgreSQL."""
    import instructions

    common = ["--compare", "audit_enabled", "--ops", str(min(args.ops, 200))]
    instructions.main(common)
    if args.postgres:
        instructions.main([*common, "--database-url", args.postgres])
    return 0


def main(argv: list[str] | None = None) -> int:
    """Measure SQLite, and PostgreSQL when --postgres names a server."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=1000, help="writes per measure (1000)")
    parser.add_argument("--rounds", type=int, default=4, help="off/on pairs (4)")
    parser.add_argument("--threads", type=int, default=4, help="writer threads (4)")
    parser.add_argument("--postgres", default="", help="a PostgreSQL server URL to measure too")
    parser.add_argument("--app", action="store_true", help="through the Flask app (SQLite)")
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions (callgrind), off vs on"
    )
    args = parser.parse_args(argv)
    if args.instructions:
        return count_instructions(args)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        if args.app:
            found = measure_app(url, ops=args.ops, rounds=args.rounds)
            report(f"SQLite, through the Flask app, {args.ops} writes per measure", found)
            return 0
        database = Database(url)
        try:
            found = measure(database, threads=args.threads, ops=args.ops, rounds=args.rounds)
        finally:
            database.dispose()
        report(f"SQLite, {args.threads} threads, {args.ops} writes per measure", found)
    if args.postgres:
        url, drop = fresh_postgres(args.postgres)
        try:
            upgrade(url)
            database = Database(url)
            try:
                found = measure(database, threads=args.threads, ops=args.ops, rounds=args.rounds)
            finally:
                database.dispose()
        finally:
            drop()
        report(f"PostgreSQL, {args.threads} threads, {args.ops} writes per measure", found)
    return 0


if __name__ == "__main__":
    sys.exit(main())
