"""Leavers first: how long a leaver's deactivation takes to reach DingTalk during an onboarding.

Runs `scim-bridge serve` (translator on, SQLite) against the DingTalk emulator (in this
process, see sync_lag.py's Bridge) at --qps per API. Seeds --leavers people and waits until they
are in DingTalk; then POSTs --people new people (the onboarding, about people / QPS seconds of
DingTalk work) and, while that work is still queued, PATCHes each leaver active=false, one every
--every seconds (default: spread over the onboarding). A leaver's lag runs from the SCIM 2xx to
the person being gone from DingTalk. The table also tells the leavers deactivated while the API
was still taking the onboarding's POSTs apart: then the API, the translator and the emulator
share the CPU and SQLite's one writer with the whole flood.

Target (issue 14): within 2 s, while a 10,000-person onboarding at 20 QPS is under way (before
priority lanes it queued behind up to 500 s of creations). Prints p50 and max; asserts nothing;
writes the section "## Leaver lag" of docs/benchmarks.md unless --no-docs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

from onboarding import throttled_answers
from report import machine_line, replace_section
from sync_lag import PATCH, Bridge, seed

SECTION = "## Leaver lag"


def leave(bridge: Bridge, scim_id: str, userid: str, *, timeout: float) -> float:
    """Deactivate one person through SCIM; return the seconds until DingTalk lost them."""
    body = {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": False}}]}
    answer = bridge.session().patch(f"{bridge.base}/Users/{scim_id}", json=body, timeout=30)
    answer.raise_for_status()
    t0 = time.monotonic()
    emulator = bridge.emulator.emulator
    while emulator.has_user(userid):
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"{userid} still in DingTalk after {timeout:.0f} s")
        time.sleep(0.005)
    return time.monotonic() - t0


def run(bridge: Bridge, *, people: int, leavers: int, every: float, qps: float) -> dict[str, Any]:
    """Seed the leavers, start the onboarding, deactivate the leavers during it."""
    emulator = bridge.emulator.emulator
    ids = seed(bridge, 0, leavers)
    while emulator.user_count() < leavers:
        time.sleep(0.05)
    poster = threading.Thread(target=seed, args=(bridge, leavers, people), daemon=True)
    poster.start()
    # Start once the onboarding's work is queued ahead of the leavers (a tenth of it posted).
    while emulator.user_count() < leavers + 1 and poster.is_alive():
        time.sleep(0.05)
    time.sleep(min(5.0, people / qps / 10))
    lags: list[float] = []
    during_posts: list[float] = []
    pending: list[int] = []
    for k, scim_id in enumerate(ids):
        posting = poster.is_alive()
        lag = leave(bridge, scim_id, f"b{k:06d}", timeout=people / qps + 60)
        lags.append(lag)
        if posting:
            during_posts.append(lag)
        pending.append(people + leavers - emulator.user_count())
        time.sleep(every)
    poster.join()
    return {
        "people": people,
        "qps": qps,
        "lags": lags,
        "during_posts": during_posts,
        "queued": pending,
        "throttled": throttled_answers(bridge),
    }


def table(result: dict[str, Any]) -> list[str]:
    """The result as a Markdown table."""
    lags, flood = result["lags"], result["during_posts"]
    rows = [
        ("onboarding under way", f"{result['people']:,} people at {result['qps']:g} QPS", ""),
        ("leavers deactivated during it", f"{len(lags)}", ""),
        ("people still to create when each leaver was gone", _span(result["queued"]), ""),
        ("leaver lag p50", f"{statistics.median(lags) * 1000:.0f} ms", "<= 2 s"),
        ("leaver lag max", f"{max(lags) * 1000:.0f} ms", "<= 2 s"),
        ("of them while the API still took the POSTs", f"{len(flood)}", ""),
        ("their lag p50 / max", _ms(flood), ""),
        ("throttled answers", f"{result['throttled']}", "0"),
    ]
    return ["| measure | value | target |", "|---|---|---|"] + [
        f"| {m} | {v} | {t} |" for m, v, t in rows
    ]


def _ms(lags: list[float]) -> str:
    if not lags:
        return "-"
    return f"{statistics.median(lags) * 1000:.0f} ms / {max(lags) * 1000:.0f} ms"


def _span(values: list[int]) -> str:
    return f"{min(values):,} .. {max(values):,}"


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=10_000, help="people in the onboarding")
    parser.add_argument("--leavers", type=int, default=10, help="leavers deactivated during it")
    parser.add_argument(
        "--every", type=float, default=None, help="seconds between leavers (default: spread)"
    )
    parser.add_argument("--qps", type=float, default=20.0, help="DingTalk QPS per API")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="DingTalk latency")
    parser.add_argument("--no-docs", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    if args.every is None:  # spread the leavers over the onboarding's DingTalk work
        args.every = args.people / args.qps / (args.leavers + 1)
    with tempfile.TemporaryDirectory() as tmp:
        bridge = Bridge(Path(tmp), qps=args.qps, latency=args.latency_ms / 1000)
        try:
            result = run(
                bridge, people=args.people, leavers=args.leavers, every=args.every, qps=args.qps
            )
        finally:
            bridge.stop()
    lines = table(result)
    print("\n".join(lines))
    if not args.no_docs:
        machine = machine_line()
        command = " ".join(["python bench/leaver_lag.py", *sys.argv[1:]])
        intro = (
            f"{date.today().isoformat()}, {machine}. `{command}`. `scim-bridge serve` (2 gunicorn "
            f"workers, translator on, SQLite) against the emulator at {args.qps:g} QPS per "
            f"API and {args.latency_ms:g} ms latency; each leaver PATCHed active=false through "
            f"SCIM while the onboarding's creations were still queued; lag from the SCIM 2xx to "
            f"the person gone from DingTalk."
        )
        replace_section(SECTION, "\n".join([SECTION, "", intro, "", *lines, ""]))


if __name__ == "__main__":
    main()
