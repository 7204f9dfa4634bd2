"""How close the DingTalk client gets to the physical minimum when creating users in bulk.

Starts the emulator with a per-API QPS quota (dingtalk-api.md §8: 20 on the standard edition) and
a per-call latency, then creates N users through one DingTalkClient from a thread pool, the way
the sync engine does during a bulk onboarding. The client's own limiter is set to the same quota.
Prints numbers; asserts nothing about timings.

    .venv/bin/python bench/dingtalk_throughput.py                 # 2,000 users, about 100 s
    .venv/bin/python bench/dingtalk_throughput.py --users 200     # a quick run
    .venv/bin/python bench/dingtalk_throughput.py --update-docs docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from scim_bridge.dingtalk.client import DingTalkClient
from scim_bridge.dingtalk.emulator import EmulatorConfig, start_emulator
from scim_bridge.errors import DingTalkError

APP_KEY = "bench-app-key"
APP_SECRET = "bench-app-secret"
SECTION = "## DingTalk client throughput"
CREATE = "/topapi/v2/user/create"


@dataclass
class Result:
    """One run's figures."""

    users: int
    threads: int
    qps: float
    client_qps: float
    latency_ms: float
    elapsed_s: float
    minimum_s: float
    throttled: int
    failed: int
    stored: int
    p50_ms: float
    p95_ms: float
    limiter_wait_s: float

    @property
    def ratio(self) -> float:
        """Elapsed time as a share of the physical minimum."""
        return self.elapsed_s / self.minimum_s


def run(
    users: int, qps: float, latency_ms: float, threads: int, client_qps: float | None = None
) -> Result:
    """Create ``users`` users against a throttling emulator and measure."""
    config = EmulatorConfig(
        app_key=APP_KEY, app_secret=APP_SECRET, qps=qps, latency=latency_ms / 1000.0
    )
    durations: list[float] = []
    failures: list[str] = []

    with start_emulator(config) as running:
        client = DingTalkClient(
            app_key=APP_KEY,
            app_secret=APP_SECRET,
            oapi_url=running.url,
            api_url=running.url,
            qps=client_qps or qps,
            pool_maxsize=max(threads, 10),
        )

        def create(n: int) -> None:
            started = time.monotonic()
            try:
                client.create_user(
                    {
                        "userid": f"bench-{n:06d}",
                        "name": f"Bench User {n}",
                        "mobile": f"139{n:08d}",
                        "dept_id_list": [1],
                    }
                )
            except DingTalkError as exc:
                failures.append(exc.reason)
            durations.append(time.monotonic() - started)

        with client:
            started = time.monotonic()
            with ThreadPoolExecutor(max_workers=threads) as pool:
                list(pool.map(create, range(users)))
            elapsed = time.monotonic() - started
            stats = client.stats()
        calls = running.emulator.calls()
        stored = len(running.emulator.users())

    throttled_seen = sum(
        1 for c in calls if c["path"] == CREATE and c["outcome"].get("sub_code") == "90018"
    )
    quantiles = statistics.quantiles(durations, n=20) if len(durations) > 1 else durations * 19
    return Result(
        users=users,
        threads=threads,
        qps=qps,
        client_qps=client_qps or qps,
        latency_ms=latency_ms,
        elapsed_s=elapsed,
        minimum_s=users / qps,
        throttled=max(throttled_seen, stats.throttled),
        failed=len(failures),
        stored=stored,
        p50_ms=statistics.median(durations) * 1000,
        p95_ms=quantiles[18] * 1000,
        limiter_wait_s=stats.limiter_wait_s,
    )


def table(result: Result) -> str:
    """Render the figures as a Markdown table."""
    rows = [
        ("users created", f"{result.users:,}"),
        ("threads", str(result.threads)),
        ("emulator quota / latency", f"{result.qps:g} QPS per API / {result.latency_ms:g} ms"),
        ("client limiter", f"{result.client_qps:g} QPS"),
        ("elapsed", f"{result.elapsed_s:.1f} s"),
        ("physical minimum", f"{result.minimum_s:.1f} s ({result.users:,} / {result.qps:g})"),
        ("ratio (target ≤ 105 %)", f"{100 * result.ratio:.1f} %"),
        ("throttled answers met", str(result.throttled)),
        ("failed operations (target 0)", str(result.failed)),
        ("users stored by the emulator", f"{result.stored:,}"),
        ("per-create latency p50 / p95", f"{result.p50_ms:.0f} ms / {result.p95_ms:.0f} ms"),
    ]
    lines = ["| measure | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines)


def update_docs(path: Path, result: Result, command: str) -> None:
    """Write or replace the ``## DingTalk client throughput`` section of the benchmarks file."""
    header = (
        "# Benchmarks\n\nEach section is written by the benchmark it names; rerun it to refresh.\n"
    )
    text = path.read_text(encoding="utf-8") if path.exists() else header
    section = "\n".join(
        [
            SECTION,
            "",
            "| date | machine | command |",
            "|---|---|---|",
            f"| {datetime.now(UTC):%Y-%m-%d} | {platform.machine()}, {os.cpu_count()} CPUs "
            f"| `{command}` |",
            "",
            "Creates users through one `DingTalkClient` from a thread pool against the emulator "
            "(dingtalk-api.md §8: a per-app, per-API quota in one-second windows). The client's "
            "limiter is set to the same quota. The physical minimum is users / QPS.",
            "",
            table(result),
            "",
        ]
    )
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Parse the flags, run once, print the table (and update the docs when asked)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--qps", type=float, default=20.0)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument(
        "--client-qps",
        type=float,
        default=None,
        help="the client's limiter (default: --qps); set it higher to meet DingTalk's throttle",
    )
    parser.add_argument("--update-docs", type=Path, default=None, metavar="PATH")
    args = parser.parse_args(argv)
    result = run(args.users, args.qps, args.latency_ms, args.threads, args.client_qps)
    print(table(result))
    if args.update_docs is not None:
        flags = [
            f"--users {args.users}",
            f"--qps {args.qps:g}",
            f"--latency-ms {args.latency_ms:g}",
            f"--threads {args.threads}",
        ]
        if args.client_qps:
            flags.append(f"--client-qps {args.client_qps:g}")
        command = " ".join([".venv/bin/python bench/dingtalk_throughput.py", *flags])
        update_docs(args.update_docs, result, command)
        print(f"\nwrote the '{SECTION[3:]}' section of {args.update_docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
