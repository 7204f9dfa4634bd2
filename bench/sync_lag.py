"""How long a SCIM change takes to reach DingTalk, and how fast a bulk onboarding drains.

Runs `scim-bridge serve` (translator on) as a real process against the DingTalk emulator
(in this process, so its state can be watched without spending DingTalk's quota):

* lag: after seeding --users people, PATCH one person's title at a steady --rate per second
  for --seconds; for each change, the time from the SCIM 2xx to the title being visible in
  the emulator. Targets: p50 <= 300 ms, p99 <= 1 s at 20 changes/s.
* onboarding: POST --onboard new people as fast as the API takes them; the time until the
  last one is in DingTalk, against the physical minimum (people / QPS). Target: <= 110%.

Prints numbers (never asserts them) and writes the section "## Sync lag" of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import requests
from report import machine_line, replace_section

from scim_bridge.dingtalk.emulator import EmulatorConfig, start_emulator

CLI = str(Path(sys.executable).with_name("scim-bridge"))
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SECTION = "## Sync lag"


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def person(i: int) -> dict[str, Any]:
    """An Okta-like user body."""
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": f"bench{i:06d}@example.com",
        "externalId": f"b{i:06d}",
        "displayName": f"Bench {i:06d}",
        "title": "Engineer",
        "phoneNumbers": [{"value": f"+86 136{i:08d}", "type": "mobile"}],
        "emails": [{"value": f"bench{i:06d}@example.com", "type": "work", "primary": True}],
    }


class Bridge:
    """The emulator in-process and `scim-bridge serve` as a child process."""

    def __init__(self, workdir: Path, *, qps: float, latency: float) -> None:
        self.config = EmulatorConfig(qps=qps, latency=latency)
        self.emulator = start_emulator(self.config)
        db = f"sqlite:///{workdir / 'bridge.db'}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SCIM_BRIDGE_")},
            "SCIM_BRIDGE_DATABASE_URL": db,
            "SCIM_BRIDGE_DINGTALK_BASE_URL": self.emulator.url,
            "SCIM_BRIDGE_DINGTALK_APP_KEY": self.config.app_key,
            "SCIM_BRIDGE_DINGTALK_APP_SECRET": self.config.app_secret,
            "SCIM_BRIDGE_DINGTALK_QPS": str(qps),
            "SCIM_BRIDGE_LOG_LEVEL": "WARNING",
        }
        subprocess.run([CLI, "db", "upgrade"], env=self.env, check=True, capture_output=True)
        out = subprocess.run(
            [CLI, "token", "create", "bench"], env=self.env, check=True, capture_output=True
        )
        self.token = out.stdout.decode().strip().splitlines()[-1]
        port = free_port()
        self.log = (workdir / "serve.log").open("ab")
        self.proc = subprocess.Popen(
            [CLI, "serve", "--port", str(port), "--workers", "2"],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.base = f"http://127.0.0.1:{port}/scim/v2"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        self.local = threading.local()

    def session(self) -> requests.Session:
        """One keep-alive session per thread."""
        s = getattr(self.local, "s", None)
        if s is None:
            s = requests.Session()
            s.headers.update(
                {
                    "Authorization": f"Bearer {self.token}",
                    "Content-Type": "application/scim+json",
                    "User-Agent": "Okta SCIM Client 1.0.0",
                }
            )
            self.local.s = s
        return s

    def users(self) -> dict[str, dict[str, Any]]:
        """The emulator's users by userid."""
        return self.emulator.emulator.users()

    def stop(self) -> None:
        """Stop the server and the emulator."""
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()
        self.emulator.stop()


def wait_for(predicate: Any, timeout: float, poll: float = 0.05) -> float:
    """Wait until predicate() is true; return the monotonic time it became true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(poll)
    raise TimeoutError("timed out")


def seed(bridge: Bridge, first: int, count: int, threads: int = 8) -> list[str]:
    """Create people through the SCIM API; return their SCIM ids."""

    def post(i: int) -> str:
        answer = bridge.session().post(f"{bridge.base}/Users", json=person(i), timeout=30)
        answer.raise_for_status()
        return str(answer.json()["id"])

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(post, range(first, first + count)))


def measure_lag(bridge: Bridge, ids: list[str], *, rate: float, seconds: float) -> list[float]:
    """Steady PATCHes at ``rate``/s; the lag of each, from the 2xx to DingTalk."""
    userids = [f"b{i:06d}" for i in range(len(ids))]
    pending: dict[str, tuple[str, float]] = {}
    lags: list[float] = []
    lock = threading.Lock()
    done = threading.Event()

    def watch() -> None:
        while not (done.is_set() and not pending):
            with lock:
                waiting = dict(pending)
            if waiting:
                users = bridge.users()
                now = time.monotonic()
                for userid, (title, t0) in waiting.items():
                    if users.get(userid, {}).get("title") == title:
                        with lock:
                            if pending.get(userid, ("", 0.0))[0] == title:
                                del pending[userid]
                                lags.append(now - t0)
            time.sleep(0.002)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    rng = random.Random(1)
    interval = 1.0 / rate
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < seconds:
        target = start + n * interval
        time.sleep(max(0.0, target - time.monotonic()))
        k = rng.randrange(len(ids))
        with lock:
            busy = userids[k] in pending
        if busy:  # one change in flight per person, so each lag is unambiguous
            n += 1
            continue
        title = f"T{n}"
        answer = bridge.session().patch(
            f"{bridge.base}/Users/{ids[k]}",
            json={
                "schemas": [PATCH],
                "Operations": [{"op": "replace", "path": "title", "value": title}],
            },
            timeout=30,
        )
        answer.raise_for_status()
        with lock:
            pending[userids[k]] = (title, time.monotonic())
        n += 1
    done.set()
    watcher.join(timeout=60)
    return lags


def onboarding(bridge: Bridge, first: int, count: int, qps: float) -> dict[str, float]:
    """POST ``count`` people; time until all are in DingTalk, against count / QPS."""
    before = len(bridge.users())
    t0 = time.monotonic()
    seed(bridge, first, count)
    posted = time.monotonic() - t0
    t_end = wait_for(
        lambda: len(bridge.users()) >= before + count, timeout=count / qps * 3, poll=0.5
    )
    elapsed = t_end - t0
    minimum = count / qps
    throttled = sum(
        1
        for call in bridge.emulator.emulator.calls()
        if call["api"] == "/topapi/v2/user/create" and call["outcome"].get("sub_code") == "90018"
    )
    return {
        "posted_s": posted,
        "elapsed_s": elapsed,
        "minimum_s": minimum,
        "ratio": elapsed / minimum,
        "throttled": throttled,
    }


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=200, help="people seeded before the lag run")
    parser.add_argument("--rate", type=float, default=20.0, help="changes per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the lag run")
    parser.add_argument("--onboard", type=int, default=10_000, help="people in the onboarding run")
    parser.add_argument("--qps", type=float, default=20.0, help="DingTalk QPS per API")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="DingTalk latency")
    parser.add_argument("--no-docs", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        bridge = Bridge(Path(tmp), qps=args.qps, latency=args.latency_ms / 1000)
        try:
            ids = seed(bridge, 0, args.users)
            wait_for(lambda: len(bridge.users()) >= args.users, timeout=args.users / args.qps * 3)
            lags = measure_lag(bridge, ids, rate=args.rate, seconds=args.seconds)
            onboard = (
                onboarding(bridge, args.users, args.onboard, args.qps) if args.onboard else None
            )
        finally:
            bridge.stop()

    rows = [
        ("changes measured", f"{len(lags)}", ""),
        ("lag p50", f"{statistics.median(lags) * 1000:.0f} ms", "<= 300 ms"),
        ("lag p99", f"{pct(lags, 0.99) * 1000:.0f} ms", "<= 1000 ms"),
        ("lag max", f"{max(lags) * 1000:.0f} ms", ""),
    ]
    if onboard:
        rows += [
            (
                f"onboarding {args.onboard} people: API accepted them in",
                f"{onboard['posted_s']:.1f} s",
                "",
            ),
            ("onboarding: all in DingTalk after", f"{onboard['elapsed_s']:.1f} s", ""),
            ("physical minimum (people / QPS)", f"{onboard['minimum_s']:.1f} s", ""),
            ("ratio", f"{onboard['ratio'] * 100:.1f} %", "<= 110 %"),
            ("throttled answers met (user/create)", f"{onboard['throttled']:.0f}", ""),
        ]
    width = max(len(r[0]) for r in rows)
    table = [f"| {'measure':<{width}} | value | target |", f"|{'-' * (width + 2)}|---|---|"]
    table += [f"| {m:<{width}} | {v} | {t} |" for m, v, t in rows]
    print("\n".join(table))
    if not args.no_docs:
        write_docs(args, table)


def write_docs(args: argparse.Namespace, table: list[str]) -> None:
    """Replace this benchmark's section of docs/benchmarks.md."""
    machine = machine_line()
    command = " ".join(["python bench/sync_lag.py", *sys.argv[1:]])
    section = "\n".join(
        [
            SECTION,
            "",
            f"{date.today().isoformat()}, {machine}. `{command}`. `scim-bridge serve` (2 gunicorn "
            f"workers, translator on, SQLite) against the emulator at {args.qps:g} QPS per "
            f"API and {args.latency_ms:g} ms latency; {args.rate:g} title changes per second for "
            f"{args.seconds:g} s over {args.users} people, then an onboarding of {args.onboard}.",
            "",
            *table,
            "",
        ]
    )
    replace_section(SECTION, section)


if __name__ == "__main__":
    main()
