"""What a per-token rate-limit check costs a SCIM request (issue 14), per limiter.

Times ``check`` of each limiter, as the API calls it once per request, in-process: the
in-process GCRA (SQLite deployments), and the shared one (one atomic upsert on
``token_rate_state`` in its own transaction) on SQLite and, with --postgres, on PostgreSQL
(where the table is UNLOGGED). Several threads check one token at once (the worst case: they
queue on its row) and, separately, one token each. The budget is set so high nothing is
refused: this is the cost of an admitted request. Prints microseconds per check (wall, and
this process's CPU); asserts nothing.

    .venv/bin/python bench/rate_limit_cost.py
    .venv/bin/python bench/rate_limit_cost.py --postgres postgresql://postgres@127.0.0.1:55433/postgres
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from audit_overhead import fresh_postgres

from scim_bridge.directory.db import Database, upgrade
from scim_bridge.directory.rate_limits import (
    LeasingRateLimiter,
    Limits,
    LocalRateLimiter,
    RateLimiter,
    SharedRateLimiter,
)
from scim_bridge.directory.tokens import create_token

#: Never refuses: the cost of admitting.
OPEN = Limits(rate_per_second=1_000_000, burst=1_000_000, max_concurrent=0)


def tokens(database: Database, count: int) -> list[int]:
    """Create ``count`` tokens; return their ids."""
    with database.write() as session:
        rows = [create_token(session, f"t{i}", now=datetime.now(UTC))[0] for i in range(count)]
        return [row.id for row in rows]


def timed(limiter: RateLimiter, ids: list[int], checks: int, threads: int) -> tuple[float, float]:
    """Run ``checks`` checks from ``threads`` threads over ``ids``; µs per check, wall and CPU."""

    def one(i: int) -> None:
        decision = limiter.check(ids[i % len(ids)], OPEN, now=time.time())
        assert decision.admitted

    for i in range(min(50, checks)):  # warm: compiled statements, pooled connections
        one(i)
    wall, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(checks)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall / checks * 1e6, cpu / checks * 1e6


def measure(label: str, url: str, checks: int, threads: int) -> list[str]:
    """Return table rows for one database."""
    upgrade(url)
    database = Database(url)
    try:
        ids = tokens(database, threads)
        rows = []
        shared = SharedRateLimiter(database.transaction)
        limiters: list[tuple[str, RateLimiter]] = [
            ("shared", shared),
            ("shared, leased (the API's choice on PostgreSQL)", LeasingRateLimiter(shared)),
        ]
        if database.dialect == "sqlite":
            limiters.insert(0, ("in-process", LocalRateLimiter()))
        for name, limiter in limiters:
            for shape, used in (("one token", ids[:1]), (f"{threads} tokens", ids)):
                wall, cpu = timed(limiter, used, checks, threads)
                rows.append(f"| {label} | {name} | {shape} | {wall:,.0f} µs | {cpu:,.0f} µs |")
        return rows
    finally:
        database.dispose()


def main(argv: list[str] | None = None) -> int:
    """Measure SQLite, and PostgreSQL when --postgres names a server."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=2000, help="checks per measure (2000)")
    parser.add_argument("--threads", type=int, default=4, help="threads checking at once (4)")
    parser.add_argument("--postgres", default="", help="a PostgreSQL server URL to measure too")
    args = parser.parse_args(argv)
    print(f"rate-limit check cost, {args.checks} admitted checks from {args.threads} threads\n")
    print("| store | limiter | tokens | wall per check | CPU per check |")
    print("|---|---|---|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'rate.db'}"
        print("\n".join(measure("SQLite", url, args.checks, args.threads)))
    if args.postgres:
        url, drop = fresh_postgres(args.postgres)
        try:
            print("\n".join(measure("PostgreSQL", url, args.checks, args.threads)))
        finally:
            drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
