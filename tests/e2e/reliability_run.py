"""The reliability run (issue 14): sustained load, DingTalk faults, kills, a database crash.

Several IdP clients write through two API processes for ``seconds`` while DingTalk (the
emulator) fails 20% of calls (5xx, "system busy", timeouts, timeouts after the write was
applied) and throttles above its quota, and a seeded chaos thread SIGKILLs and restarts the
worker or one API process every few seconds and crashes and restarts PostgreSQL once, halfway.
Then everything is brought up, the outbox drains, and the run is judged: DingTalk equals what
the clients were told, every 2xx is in the directory, nobody exists twice, nothing was
dead-lettered, and `scim-bridge audit verify` passes. tests/e2e/test_reliability.py asserts it;
bench/reliability.py prints it.
"""

from __future__ import annotations

import random
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from e2e_harness import Cluster, cluster
from reliability_evidence import keep_evidence
from scale_processes import (
    ThrowawayPostgres,
    in_process_emulator,
    prepare_in_process,
    start_api_on,
    start_apis,
    stop_all,
)
from scale_scenario import (
    Stats,
    Writer,
    differences,
    directory_differences,
    duplicates,
    run_writers,
)

from scim_bridge.dingtalk.emulator import EmulatorConfig

#: The bridge under test is allowed more than the emulator's quota, so DingTalk's throttle is
#: met; a read timeout shorter than the emulator's stall makes "timeout after apply" ambiguous.
ENV = {
    "SCIM_BRIDGE_DINGTALK_QPS": "30",
    "SCIM_BRIDGE_DINGTALK_READ_TIMEOUT": "1.0",
    "SCIM_BRIDGE_SYNC_BACKOFF_BASE": "0.5",
    "SCIM_BRIDGE_SYNC_LEASE_SECONDS": "6",
    "SCIM_BRIDGE_SLA_FLUSH_SECONDS": "1",
}
THROTTLE_CODES = ("88", "90018", "90002")
#: DingTalk's quota per (app, API) in the emulator: low, so the backlog after a kill or the
#: database's crash meets the throttle (dingtalk-api.md §8).
QPS = 5


@dataclass
class Summary:
    """What one run did and how it ended."""

    seconds: float
    seed: int
    clients: int
    requests: int = 0
    answered_2xx: int = 0
    unanswered: int = 0
    answered_5xx: int = 0
    #: Every answer by HTTP status: which 5xx they were (503 while the database restarts).
    statuses: dict[int, int] = field(default_factory=dict)
    writes: int = 0
    dingtalk_calls: int = 0
    dingtalk_faults: int = 0
    dingtalk_throttled: int = 0
    worker_kills: int = 0
    api_kills: int = 0
    restarts: int = 0
    postgres_restarts: int = 0
    converged_seconds: float = 0.0
    differences: list[str] = field(default_factory=list)
    unreflected: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    dead_letters: list[Any] = field(default_factory=list)
    audit_verify: str = ""
    #: Where a run with differences left its evidence (reliability_evidence.py), else "".
    evidence: str = ""

    @property
    def clean(self) -> bool:
        """True when DingTalk, the directory and the audit trail came out exact."""
        return not (self.differences or self.unreflected or self.duplicates or self.dead_letters)

    def lines(self) -> list[str]:
        """The summary in words, one fact a line."""
        facts = asdict(self)
        for key in ("differences", "unreflected", "duplicates", "dead_letters"):
            facts[key] = len(facts[key])
        return [f"{key:>20}: {value}" for key, value in facts.items()]


class Chaos:
    """Kill and restart processes at seeded random moments; crash PostgreSQL once, halfway."""

    def __init__(
        self,
        c: Cluster,
        pg: ThrowawayPostgres | None,
        ports: list[int],
        summary: Summary,
        seed: int,
    ) -> None:
        self.c, self.pg, self.ports, self.summary = c, pg, ports, summary
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, name="chaos", daemon=True)

    def _run(self) -> None:
        crash_at = time.monotonic() + self.summary.seconds / 2
        crashed = self.pg is None  # on SQLite there is no database server to crash
        first = ["worker", "api"]  # each kind is killed once early, whatever the seed says
        try:
            while True:
                gap = self.rng.uniform(4.0, 8.0)
                if not crashed:  # the crash comes halfway, whatever the gaps drawn
                    gap = min(gap, max(0.0, crash_at - time.monotonic()))
                if self.stop.wait(gap):
                    break
                if not crashed and time.monotonic() >= crash_at and self.pg is not None:
                    crashed = True
                    self.pg.restart()  # an immediate stop: as a crash, then crash recovery
                    self.summary.postgres_restarts += 1
                    continue
                kind = first.pop(0) if first else self.rng.choice(("worker", "api"))
                if kind == "worker":
                    self.c.kill("worker")  # SIGKILL: its leases are left to expire
                    self.summary.worker_kills += 1
                    self.c.start("worker", "worker")
                else:
                    index = self.rng.randrange(len(self.ports))
                    self.c.kill(f"api{index + 1}")
                    self.summary.api_kills += 1
                    start_api_on(self.c, f"api{index + 1}", self.ports[index])
                self.summary.restarts += 1
        except BaseException as exc:  # reported with the run's result
            self.errors.append(exc)


def run(
    workdir: Path,
    *,
    seconds: float,
    seed: int = 1,
    clients: int = 3,
    say: Callable[[str], None] = lambda line: None,
    sqlite: bool = False,
) -> Summary:
    """Run the scenario in ``workdir`` for ``seconds`` of load; return its summary.

    ``sqlite``: the processes share a SQLite file instead (no database crash, then)."""
    summary = Summary(seconds=seconds, seed=seed, clients=clients)
    pg = None if sqlite else ThrowawayPostgres()
    emulator = in_process_emulator(
        EmulatorConfig(qps=QPS, fail_rate=0.2, timeout_stall=1.5, seed=seed)
    )
    try:
        url = f"sqlite:///{workdir / 'bridge.db'}" if pg is None else pg.url
        if pg is not None:
            pg.start()
        with cluster(workdir, url, **ENV) as c:
            _scenario(c, pg, emulator.url, summary, say)
    finally:
        emulator.stop()
        if pg is not None:
            pg.remove()
    return summary


def _scenario(
    c: Cluster, pg: ThrowawayPostgres | None, emulator_url: str, summary: Summary, say: Any
) -> None:
    prepare_in_process(c, emulator_url)
    urls = start_apis(c, 2)
    ports = [int(url.split(":")[2].split("/")[0]) for url in urls]
    c.start("worker", "worker")
    stats = Stats()
    writers = [
        Writer(i, urls, c.token, seed=summary.seed, stats=stats) for i in range(summary.clients)
    ]
    for writer in writers:
        writer.setup()
    say(f"load: {summary.clients} clients for {summary.seconds:.0f} s, with chaos")
    chaos = Chaos(c, pg, ports, summary, summary.seed)
    chaos.thread.start()
    errors = run_writers(writers, seconds=summary.seconds, max_writes=10**9)
    chaos.stop.set()
    chaos.thread.join(timeout=180)
    if errors or chaos.errors:
        raise (errors + chaos.errors)[0]
    _all_up(c, ports)
    say("load over; waiting for the outbox to drain")
    started = time.monotonic()
    drain(c)
    summary.converged_seconds = round(time.monotonic() - started, 1)
    _judge(c, writers, urls, stats, summary)
    if summary.differences:  # the cluster and the emulator go with the run: keep the why
        summary.evidence = str(keep_evidence(c, writers, summary.differences, c.workdir))
    stop_all(c)  # judged: nothing left to shut down cleanly


#: The drain fails when the outbox has not shrunk for this long (longer than the longest retry
#: backoff a row can wait out), or when it takes longer than MOST_DRAIN_SECONDS in all.
STALL_SECONDS = 360.0
MOST_DRAIN_SECONDS = 3600.0


def drain(c: Cluster, *, poll: float = 2.0) -> None:
    """Wait until the outbox is empty, as long as it keeps shrinking.

    The IdP clients write far faster than DingTalk's quota (20 calls a second per API) takes
    the changes, so the backlog after the load, not the load's length, sets how long the
    translator needs: 300 s of load left over 6,000 creations (over 300 s of quota on their
    own). A drain that stops making progress is the finding; a long one is not.
    """
    start = time.monotonic()
    best, progressed = c.outbox_pending(), start
    while True:
        pending, now = c.outbox_pending(), time.monotonic()
        if pending == 0:
            time.sleep(1.0)  # twice in a row: a commit in flight may add a row
            if c.outbox_pending() == 0:
                return
            continue
        if pending < best:
            best, progressed = pending, now
        if now - progressed > STALL_SECONDS or now - start > MOST_DRAIN_SECONDS:
            raise TimeoutError(
                f"the outbox stopped draining: {pending} change(s) pending, the fewest was "
                f"{best}, {now - progressed:.0f} s ago ({now - start:.0f} s in all)"
            )
        time.sleep(poll)


def _all_up(c: Cluster, ports: list[int]) -> None:
    """Start whatever is not running (a process that died on its own is a finding too)."""
    for index, port in enumerate(ports):
        name = f"api{index + 1}"
        if name not in c.procs or c.procs[name].poll() is not None:
            c.procs.pop(name, None)
            start_api_on(c, name, port)
    if "worker" not in c.procs or c.procs["worker"].poll() is not None:
        c.procs.pop("worker", None)
        c.start("worker", "worker")


def _judge(
    c: Cluster, writers: list[Writer], urls: list[str], stats: Stats, summary: Summary
) -> None:
    state = c.emulator_state()
    summary.differences = differences(state, writers)
    summary.duplicates = duplicates(state)
    summary.unreflected = directory_differences(writers, urls, c.token)
    summary.dead_letters = c.dead_letters()
    summary.requests = stats.requests
    summary.answered_2xx = sum(n for status, n in stats.answered.items() if 200 <= status < 300)
    summary.answered_5xx = sum(n for status, n in stats.answered.items() if status >= 500)
    summary.unanswered = stats.unanswered
    summary.statuses = dict(sorted(stats.answered.items()))
    summary.writes = stats.writes_ok
    calls = c.emulator_calls()
    summary.dingtalk_calls = len(calls)
    summary.dingtalk_faults = sum(1 for call in calls if call.get("fault"))
    summary.dingtalk_throttled = sum(1 for call in calls if _throttled(call))
    try:
        summary.audit_verify = c.cli("audit", "verify").strip().splitlines()[-1]
    except subprocess.CalledProcessError as exc:
        summary.audit_verify = f"FAILED: {exc.stdout.decode()}{exc.stderr.decode()}".strip()


def _throttled(call: dict[str, Any]) -> bool:
    outcome = call.get("outcome") or {}
    code = str(outcome.get("sub_code") or outcome.get("errcode") or outcome.get("code") or "")
    return code in THROTTLE_CODES[1:] or "Qps" in code
