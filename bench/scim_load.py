"""SCIM load: scim-bridge against the reference server scim2-server, side by side in one run.

Both servers are started here on 127.0.0.1 and an ephemeral port, one after the other, each
seeded with the same ``--users`` users (``scim_load_data.user_body``), then driven over HTTP
with the same operations from a pool of client threads, one keep-alive connection each
(``http.client`` by default, ``--client requests`` for a ``requests.Session``):

- ours: ``scim-bridge serve`` (its default workers and threads) on a fresh SQLite file in a temp
  directory, seeded in this process through ``scim_bridge.directory.users.create_user`` (the
  service layer POST /Users calls) before the server starts, with an ``okta`` token;
- the reference: scim2-server's in-memory application (``scim2_reference_app.py``) under
  gunicorn gthread, 1 worker x 8 threads, in its own virtualenv (created on first use, or
  ``--reference-python``), seeded in its process through its own POST /Users handler.

Measured over HTTP: POST /Users, GET /Users/{id}, GET /Users?filter=userName eq "…",
PATCH active=false (Okta's value form), PATCH adding 100 members to one growing group
(batch after batch), and paging with count=100, both concurrently and as one sequential walk
from startIndex 1. Prints a table and writes the ``## SCIM load`` section of
docs/benchmarks.md. Prints numbers; asserts nothing about timings.

``--paired`` starts both servers at once and measures each phase on one and then the other,
seconds apart (ours' translator stopped while the reference is measured): on a shared machine
whose speed drifts over minutes, the ratio of a pair is what holds still.

    .venv/bin/python bench/scim_load.py                    # 100,000 users (long: ~30 min)
    .venv/bin/python bench/scim_load.py --users 10000      # the target size
    .venv/bin/python bench/scim_load.py --users 10000 --paired --rounds 2   # issue 14's table
    .venv/bin/python bench/scim_load.py --quick            # smoke run, 1,000 users, < 60 s
    .venv/bin/python bench/scim_load.py --reference-python /path/venv/bin/python
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from scim_load_backends import (  # noqa: E402
    emulator_process,
    median_or_nan,
    median_phases,
    postgres_database,
    round_ratios,
    translator_env,
    write_json,
)
from scim_load_data import (  # noqa: E402
    add_members_body,
    deactivate_body,
    group_body,
    user_body,
    user_name,
)

SECTION = "## SCIM load"
CLIENT_NAMES = {"http": "`http.client.HTTPConnection`", "requests": "`requests.Session`"}
DEFAULT_REFERENCE_VENV = Path(tempfile.gettempdir()) / "scim-load-scim2-server-venv"
REFERENCE_PACKAGES = ("scim2-server", "gunicorn", "requests")
SCIM_CT = "application/scim+json"
#: Index of the first user created by the POST phase (the seeded users are 0 … users-1).
POST_BASE = 50_000_000
#: Okta's User-Agent, so an ``auto`` profile would pick Okta too (the token says okta anyway).
USER_AGENT = "Okta SCIM Client 1.0.0"


# --- results ---------------------------------------------------------------------------------


@dataclass
class Phase:
    """One measured operation on one server."""

    name: str
    latencies: list[float] = field(default_factory=list)  # seconds, in completion order
    elapsed: float = 0.0
    errors: int = 0
    first_error: str = ""
    client_cpu: float = 0.0
    planned: int = 0
    timed_out: bool = False
    server_cpu: float = 0.0  # CPU seconds of the server's processes during the measure
    other_cpu: float = 0.0  # CPU seconds of every other process on the machine (not ours)
    translator_cpu: float = 0.0  # of server_cpu: the server's niced processes (the translator)

    @property
    def ops(self) -> int:
        """Return the number of successful operations."""
        return len(self.latencies)

    @property
    def rate(self) -> float:
        """Return successful operations per second of wall time."""
        return self.ops / self.elapsed if self.elapsed > 0 else 0.0

    def pct(self, q: float) -> float:
        """Return the q-quantile latency in milliseconds."""
        if not self.latencies:
            return math.nan
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def tails(self) -> tuple[float, float]:
        """Return the mean latency (ms) of the first and of the last 10% of operations."""
        n = len(self.latencies)
        if n == 0:
            return math.nan, math.nan
        k = max(1, n // 10)
        return (
            statistics.fmean(self.latencies[:k]) * 1000,
            statistics.fmean(self.latencies[-k:]) * 1000,
        )


@dataclass
class ServerRun:
    """Everything measured on one server."""

    label: str
    description: str
    seed_seconds: float = 0.0
    seed_how: str = ""
    phases: dict[str, Phase] = field(default_factory=dict)


# --- HTTP load -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    """One request: method, path (below the SCIM base URL), JSON body, expected statuses."""

    method: str
    path: str
    body: bytes | None = None
    ok: tuple[int, ...] = (200,)
    check: Callable[[bytes], str | None] | None = None


class Client:
    """One client thread's keep-alive connection to a server, authenticated by a token.

    ``kind`` is ``requests`` (a ``requests.Session``) or ``http`` (a bare
    ``http.client.HTTPConnection``: the same keep-alive HTTP/1.1, at about a fifth of the
    client CPU per request, which leaves more of the machine's two cores to the server).
    """

    def __init__(self, kind: str, base: str, token: str) -> None:
        self.kind = kind
        self.base = base
        url = urllib.parse.urlsplit(base)
        self.host, self.port, self.prefix = url.hostname or "127.0.0.1", url.port, url.path
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Accept": SCIM_CT,
            "User-Agent": USER_AGENT,
        }
        self.session: requests.Session | None = None
        self.conn: http.client.HTTPConnection | None = None
        if kind == "requests":
            self.session = requests.Session()
            self.session.headers.update(self.headers)

    def call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """Send one request; return the status and the body."""
        if self.session is not None:
            headers = {"Content-Type": SCIM_CT} if body is not None else None
            response = self.session.request(
                method, self.base + path, data=body, headers=headers, timeout=300
            )
            return response.status_code, response.content
        headers = dict(self.headers)
        if body is not None:
            headers["Content-Type"] = SCIM_CT
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=300)
            try:
                self.conn.request(method, self.prefix + path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                if response.will_close:
                    self.close()
                return response.status, data
            except (http.client.HTTPException, ConnectionError):
                # The server closed an idle keep-alive connection: reconnect once.
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close the connection."""
        if self.session is not None:
            self.session.close()
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def send(client: Client, op: Op) -> tuple[float, str | None]:
    """Send one request; return its latency and an error text (None when it succeeded)."""
    started = time.perf_counter()
    try:
        status, data = client.call(op.method, op.path, op.body)
    except (OSError, http.client.HTTPException, requests.RequestException) as exc:
        return time.perf_counter() - started, f"{op.method} {op.path}: {exc!r}"
    latency = time.perf_counter() - started
    if status not in op.ok:
        return latency, f"{op.method} {op.path} -> {status} {data[:200]!r}"
    if op.check is not None:
        problem = op.check(data)
        if problem:
            return latency, f"{op.method} {op.path}: {problem}"
    return latency, None


def run_concurrent(
    name: str,
    connect: Callable[[], Client],
    ops: list[Op],
    *,
    clients: int,
    warmup: list[Op],
    deadline_s: float,
    lanes: list[list[Op]] | None = None,
    on_start: Callable[[], None] = lambda: None,
) -> Phase:
    """Send ``ops`` from ``clients`` threads (each its own connection) after a warm-up.

    Each thread takes the next op of the shared list; with ``lanes``, thread c sends
    ``lanes[c]`` in order instead (``ops`` is then ignored).
    """
    phase = Phase(name, planned=sum(map(len, lanes)) if lanes is not None else len(ops))
    sessions = [connect() for _ in range(clients)]
    for i, op in enumerate(warmup):
        send(sessions[i % clients], op)
    lock = threading.Lock()
    shared = iter(ops)
    on_start()
    deadline = time.perf_counter() + deadline_s

    def worker(session: Client, lane: Iterator[Op] | None) -> None:
        while True:
            with lock:
                op = next(shared if lane is None else lane, None)
            if op is None:
                return
            if time.perf_counter() > deadline:
                phase.timed_out = True
                return
            latency, error = send(session, op)
            with lock:
                if error is None:
                    phase.latencies.append(latency)
                else:
                    phase.errors += 1
                    phase.first_error = phase.first_error or error

    cpu = time.process_time()
    started = time.perf_counter()
    threads = [
        threading.Thread(target=worker, args=(s, iter(lanes[c]) if lanes is not None else None))
        for c, s in enumerate(sessions)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    phase.elapsed = time.perf_counter() - started
    phase.client_cpu = time.process_time() - cpu
    for s in sessions:
        s.close()
    return phase


def run_sequence(
    name: str,
    connect: Callable[[], Client],
    ops: list[Op],
    *,
    deadline_s: float,
    stop_on_error: bool,
    on_start: Callable[[], None] = lambda: None,
) -> Phase:
    """Send ``ops`` one after the other on one connection; latencies stay in order."""
    phase = Phase(name, planned=len(ops))
    session = connect()
    on_start()
    deadline = time.perf_counter() + deadline_s
    cpu = time.process_time()
    started = time.perf_counter()
    for op in ops:
        if time.perf_counter() > deadline:
            phase.timed_out = True
            break
        latency, error = send(session, op)
        if error is None:
            phase.latencies.append(latency)
        else:
            phase.errors += 1
            phase.first_error = phase.first_error or error
            if stop_on_error:
                break
    phase.elapsed = time.perf_counter() - started
    phase.client_cpu = time.process_time() - cpu
    session.close()
    return phase


# --- the workload ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """How much of each operation to send."""

    users: int
    clients: int
    read_ops: int
    write_ops: int
    page_ops_per_client: int
    walk_pages: int
    member_batches: int
    phase_timeout: float
    client: str = "http"
    seed: int = 42


def _json(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def _page_check(expected: int) -> Callable[[bytes], str | None]:
    def check(data: bytes) -> str | None:
        got = len(json.loads(data).get("Resources") or [])
        return None if got == expected else f"{got} resources on the page, expected {expected}"

    return check


def _one_result(data: bytes) -> str | None:
    total = json.loads(data).get("totalResults")
    return None if total == 1 else f"totalResults {total}, expected 1"


def translator_share(phase: Phase) -> str:
    """Return ", of which the translator N cores" when the server has one (else "")."""
    if not phase.translator_cpu:
        return ""
    return f", of which the translator {phase.translator_cpu / phase.elapsed:.2f}"


def measure_steps(side: Serving, plan: Plan, log: Callable[[str], None]) -> Iterator[str]:
    """Run every phase against one server, reads first (on the seeded store), then writes; one
    phase per step, yielding its name once measured, so that two servers' phases can be taken
    in turn (``--paired``)."""
    run, base, token, ids, meter = side.run, side.base, side.token, side.ids, side.meter

    def connect() -> Client:
        return Client(plan.client, base, token)

    rng = random.Random(plan.seed)
    users = len(ids)
    clients = plan.clients
    warm = max(20, min(200, plan.read_ops // 10))
    timeout = plan.phase_timeout

    marks: list[tuple[float, float, float]] = []

    def mark() -> None:
        marks.append(meter.sample())

    def record(measure_phase: Callable[[], Phase]) -> None:
        marks.clear()
        phase = measure_phase()
        before = marks[-1]
        after = meter.sample()
        machine_busy, server, bench, niced = (b - a for a, b in zip(before, after, strict=True))
        phase.server_cpu = server
        phase.translator_cpu = niced
        phase.other_cpu = max(0.0, machine_busy - server - bench)
        run.phases[phase.name] = phase
        extra = f", {phase.errors} errors ({phase.first_error})" if phase.errors else ""
        extra += ", stopped at the time limit" if phase.timed_out else ""
        log(
            f"  {run.label:<9} {phase.name:<16} {phase.ops:>6} ops in {phase.elapsed:7.1f} s = "
            f"{phase.rate:8.1f}/s  p50 {phase.pct(0.5):7.1f} ms  p99 {phase.pct(0.99):7.1f} ms"
            f"  server CPU {phase.server_cpu / phase.elapsed:.2f} cores{translator_share(phase)}"
            f", other processes {phase.other_cpu / phase.elapsed:.2f} cores{extra}"
        )

    def warmed_up(name: str, ops: list[Op]) -> None:
        """Measure ops[warm:] from every client, after ops[:warm] as a warm-up."""
        record(
            lambda: run_concurrent(
                name,
                connect,
                ops[warm:],
                clients=clients,
                warmup=ops[:warm],
                deadline_s=timeout,
                on_start=mark,
            )
        )

    # GET /Users/{id}
    picks = [rng.randrange(users) for _ in range(plan.read_ops + warm)]
    ops = [Op("GET", f"/Users/{ids[i]}") for i in picks]
    warmed_up("get", ops)
    yield "get"

    # GET /Users?filter=userName eq "…"
    picks = [rng.randrange(users) for _ in range(plan.read_ops + warm)]
    ops = [
        Op(
            "GET",
            "/Users?" + urllib.parse.urlencode({"filter": f'userName eq "{user_name(i)}"'}),
            check=_one_result,
        )
        for i in picks
    ]
    warmed_up("filter", ops)
    yield "filter"

    # Paging, concurrent: each client walks its own run of consecutive pages (startIndex
    # 1, 101, … as IdPs do), the runs spread over the whole store.
    pages = users // 100
    per_client = min(plan.page_ops_per_client, max(1, pages // clients))
    stride = max(1, pages // clients)
    runs = [
        [
            Op(
                "GET",
                f"/Users?startIndex={(c * stride + k) * 100 + 1}&count=100",
                check=_page_check(100),
            )
            for k in range(per_client)
            if (c * stride + k) < pages
        ]
        for c in range(clients)
    ]
    # Each client thread walks its own run, on its own connection, as an IdP would.
    record(
        lambda: run_concurrent(
            "paging",
            connect,
            [],
            clients=clients,
            lanes=runs,
            warmup=[Op("GET", "/Users?startIndex=1&count=100")] * clients,
            deadline_s=timeout,
            on_start=mark,
        )
    )
    yield "paging"

    # Paging, one sequential walk from the start: latency of each page, first vs last 10%.
    walk = min(plan.walk_pages, pages)
    ops = [
        Op("GET", f"/Users?startIndex={k * 100 + 1}&count=100", check=_page_check(100))
        for k in range(walk)
    ]
    record(
        lambda: run_sequence(
            "page walk", connect, ops, deadline_s=timeout, stop_on_error=False, on_start=mark
        )
    )
    yield "page walk"

    # POST /Users: new users (okta body, no password).
    ops = [
        Op("POST", "/Users", _json(user_body(POST_BASE + i)), ok=(201,))
        for i in range(plan.write_ops + warm)
    ]
    warmed_up("post", ops)
    yield "post"

    # PATCH active=false on distinct seeded users.
    picks = rng.sample(range(users), min(users, plan.write_ops + warm))
    body = _json(deactivate_body())
    ops = [Op("PATCH", f"/Users/{ids[i]}", body, ok=(200, 204)) for i in picks]
    warmed_up("patch active", ops)
    yield "patch active"

    # PATCH add 100 members to one group, batch after batch: the group grows to batches x 100.
    client = connect()
    status, data = client.call("POST", "/Groups", _json(group_body("bench-group")))
    client.close()
    if status != 201:
        raise SystemExit(f"{run.label}: POST /Groups -> {status} {data[:300]!r}")
    group_id = json.loads(data)["id"]
    batches = min(plan.member_batches, users // 100)
    order = list(range(users))
    rng.shuffle(order)
    ops = [
        Op(
            "PATCH",
            f"/Groups/{group_id}",
            _json(add_members_body([ids[i] for i in order[b * 100 : (b + 1) * 100]])),
            ok=(200, 204),
        )
        for b in range(batches)
    ]
    record(
        lambda: run_sequence(
            "member patch", connect, ops, deadline_s=timeout, stop_on_error=True, on_start=mark
        )
    )
    yield "member patch"


# --- servers ---------------------------------------------------------------------------------


class CpuMeter:
    """CPU seconds used so far by the machine, by a server's process tree, and by this process.

    The machine is shared: what other processes burn during a measure is reported beside it,
    from /proc (Linux); elsewhere every figure reads 0.
    """

    def __init__(self, root_pid: int) -> None:
        self.root_pid = root_pid
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def sample(self) -> tuple[float, float, float, float]:
        """Return (machine busy, server tree, this process, the tree's niced processes) CPU
        seconds; the last is `serve`'s translator, part of the server tree's figure."""
        try:
            fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
            user, nice, system, _idle, _iowait, irq, softirq = map(int, fields[:7])
            machine = (user + nice + system + irq + softirq) / self.tick
        except (OSError, ValueError):
            return 0.0, 0.0, 0.0, 0.0
        processes = self._processes()
        tree = [pid for pid in self._tree(processes) if pid in processes]
        server = sum(processes[pid][1] for pid in tree)
        niced = sum(processes[pid][1] for pid in tree if processes[pid][2] > 0)
        own = processes.get(os.getpid())
        return machine, server, own[1] if own else 0.0, niced

    def niced_processes(self) -> list[int]:
        """Return the server tree's processes at a positive nice value: `serve`'s translator."""
        processes = self._processes()
        return [pid for pid in self._tree(processes) if pid in processes and processes[pid][2] > 0]

    def _processes(self) -> dict[int, tuple[int, float, int]]:
        """Every process now: pid -> (parent pid, CPU seconds used, nice value)."""
        found: dict[int, tuple[int, float, int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                after = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            cpu = (int(after[11]) + int(after[12])) / self.tick
            found[int(stat.parent.name)] = (int(after[1]), cpu, int(after[16]))
        return found

    def _tree(self, processes: dict[int, tuple[int, float, int]]) -> set[int]:
        """The server's root and every process descended from it."""
        tree = {self.root_pid}
        grew = True
        while grew:
            grew = False
            for pid, (parent, _cpu, _nice) in processes.items():
                if parent in tree and pid not in tree:
                    tree.add(pid)
                    grew = True
        return tree


def free_port() -> int:
    """Return a port nobody listens on right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, token: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait until ``url`` answers 200, or fail if the server exits or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode} before it answered")
        try:
            response = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5)
            if response.status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


@contextmanager
def running(
    cmd: list[str], env: dict[str, str], log_path: Path, ready_url: str, token: str, timeout: float
) -> Iterator[CpuMeter]:
    """Run a server process until the block ends, then stop it (SIGTERM, then SIGKILL)."""
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(cmd, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            wait_ready(ready_url, token, process, timeout)
            yield CpuMeter(process.pid)
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def seed_ours(
    url: str, users: int, log: Callable[[str], None], *, audit: bool = True
) -> tuple[str, list[str], float]:
    """Migrate a fresh database, create an okta token, create the users; return token, ids."""
    from scim_bridge.directory import users as user_service
    from scim_bridge.directory.db import Database, upgrade
    from scim_bridge.directory.tokens import authenticate, create_token
    from scim_bridge.scim.profiles import PROFILES

    upgrade(url)
    database = Database(url)
    try:
        with database.write() as session:
            _row, token = create_token(
                session, "bench", profile="okta", idp="okta", now=datetime.now(UTC)
            )
        with database.reader() as reader:
            principal, _ = authenticate(reader, token, now=datetime.now(UTC))
        assert principal is not None
        compat = PROFILES["okta"].compat
        ids: list[str] = []
        started = time.perf_counter()
        for start in range(0, users, 1000):
            with database.transaction() as cur:
                for index in range(start, min(users, start + 1000)):
                    ctx = user_service.Context(
                        principal=principal, now=datetime.now(UTC), compat=compat, audit=audit
                    )
                    ids.append(user_service.create_user(cur, user_body(index), ctx).id)
            if (start + 1000) % 10_000 == 0:
                log(f"  ours: seeded {start + 1000:,} users")
        elapsed = time.perf_counter() - started
    finally:
        database.dispose()
    return token, ids, elapsed


@dataclass
class Serving:
    """A seeded server, listening: what its phases are measured against."""

    run: ServerRun
    base: str
    token: str
    ids: list[str]
    meter: CpuMeter


def measured(
    serving: contextlib.AbstractContextManager[Serving], plan: Plan, log: Callable[[str], None]
) -> ServerRun:
    """Bring a server up, measure every phase against it, take it down; return its figures."""
    with serving as side:
        for _phase in measure_steps(side, plan, log):
            pass
    return side.run


@contextmanager
def serving_ours(
    args: argparse.Namespace,
    plan: Plan,
    workdir: Path,
    log: Callable[[str], None],
    *,
    audit: bool = True,
    label: str = "ours",
    database_url: str | None = None,
    emulator_url: str | None = None,
) -> Iterator[Serving]:
    """Seed scim-bridge's store (with its audit trail on or off) and serve it until the block
    ends.

    ``database_url``: a fresh PostgreSQL database (default: a SQLite file in ``workdir``);
    ``emulator_url``: the translator runs as `serve` runs it (a process of its own), against
    that emulator (default: API only, `--no-worker`)."""
    from scim_bridge.settings import Settings

    # serve's own defaults unless --workers / --threads say otherwise.
    workers = args.workers or Settings().workers
    threads = args.threads or Settings().threads
    flags = (["--workers", str(args.workers)] if args.workers else []) + (
        ["--threads", str(args.threads)] if args.threads else []
    )
    shown = " ".join(["scim-bridge serve", *flags])
    store = "PostgreSQL" if database_url else "SQLite (WAL)"
    run = ServerRun(label, f"`{shown}` ({workers} workers x {threads} threads), {store}")
    db_path = workdir / f"scim-bridge-{label.replace(' ', '-')}.db"
    url = database_url or f"sqlite:///{db_path}"
    log(f"ours: seeding {plan.users:,} users through the service layer into {store}")
    token, ids, run.seed_seconds = seed_ours(url, plan.users, log, audit=audit)
    run.seed_how = "service layer (`directory.users.create_user`), one process, before serving"
    log(f"ours: seeded in {run.seed_seconds:.1f} s")
    port = free_port()
    # The SCIM API alone is measured: no translator (it would project every write onto
    # DingTalk), and a DingTalk address on the loopback that refuses, so nothing is sent out.
    nowhere = "http://127.0.0.1:9"
    env = dict(
        os.environ,
        SCIM_BRIDGE_DATABASE_URL=url,
        SCIM_BRIDGE_DINGTALK_BASE_URL=nowhere,
        SCIM_BRIDGE_DINGTALK_API_URL=nowhere,
        SCIM_BRIDGE_AUDIT_ENABLED="true" if audit else "false",
    )
    env.pop("SCIM_BRIDGE_CONFIG", None)
    if emulator_url is not None:
        env.update(translator_env(emulator_url, workdir / f"runtime-{label.replace(' ', '-')}"))
    exe = Path(sys.executable).with_name("scim-bridge")
    cmd = [
        str(exe) if exe.exists() else "scim-bridge",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *flags,
    ]
    helptext = subprocess.run(
        [*cmd[:2], "--help"], env=env, capture_output=True, text=True, check=False
    ).stdout
    if emulator_url is not None:
        run.description += (
            ", translator on (serve's default: a process of its own at nice 10) projecting "
            "every write onto the DingTalk "
            "emulator, which runs in its own process at its quota; the seeded users wait in "
            "the outbox when serving starts, so the translator works through them (an "
            "onboarding) during every measure"
        )
    elif "--no-worker" in helptext:
        cmd.append("--no-worker")
        run.description += ", `--no-worker` (API only, no translator)"
    base = f"http://127.0.0.1:{port}/scim/v2"
    with running(
        cmd,
        env,
        workdir / f"{label.replace(' ', '-')}.log",
        base + "/ServiceProviderConfig",
        token,
        120,
    ) as meter:
        log(f"ours: serving on {base}")
        yield Serving(run, base, token, ids, meter)


@contextmanager
def serving_ours_round(
    args: argparse.Namespace, plan: Plan, workdir: Path, log: Callable[[str], None]
) -> Iterator[Serving]:
    """Serve ours for one round, until the block ends: on its store (a fresh PostgreSQL
    database or SQLite file), translator on against an emulator of its own unless
    --no-translator."""
    with contextlib.ExitStack() as stack:
        url = (
            stack.enter_context(postgres_database(args.database_url)) if args.database_url else None
        )
        emulator = None
        if not args.no_translator:
            emulator = stack.enter_context(
                emulator_process(workdir / "emulator.log", qps=args.emulator_qps)
            )
            log(f"ours: DingTalk emulator (own process, {args.emulator_qps:g} QPS) at {emulator}")
        yield stack.enter_context(
            serving_ours(args, plan, workdir, log, database_url=url, emulator_url=emulator)
        )


def json_rows(
    ours: ServerRun, ref: ServerRun | None, mine: list[ServerRun], refs: list[ServerRun]
) -> list[dict[str, Any]]:
    """Return one row per operation: both rates, the median round ratio, target, met."""
    out = []
    for key, label, kind in ROWS:
        a, b = ours.phases.get(key), ref.phases.get(key) if ref else None
        ratio = median_or_nan(round_ratios(mine, refs, key))
        out.append(
            {
                "op": key,
                "label": label,
                "kind": kind,
                "ours": a.rate if a else None,
                "reference": b.rate if b else None,
                "ratio": None if math.isnan(ratio) else ratio,
                "rounds": [round(r, 3) for r in round_ratios(mine, refs, key)],
            }
        )
    return out


def rounds_lines(mine: list[ServerRun], refs: list[ServerRun]) -> list[str]:
    """Return the ratio of each round (ours / reference, same round), per operation."""
    lines = ["| operation | ratio, each round | median |", "|---|---|---:|"]
    for key, label, _kind in ROWS:
        ratios = round_ratios(mine, refs, key)
        if ratios:
            each = ", ".join(f"{r:.2f}x" for r in ratios)
            lines.append(f"| {label} | {each} | {median_or_nan(ratios):.2f}x |")
    return lines


def reference_python(args: argparse.Namespace, log: Callable[[str], None]) -> str:
    """Return the reference virtualenv's python, creating the virtualenv when it is missing."""
    if args.reference_python:
        return str(args.reference_python)
    venv = Path(args.reference_venv)
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import scim2_server, gunicorn"]
    if python.exists() and subprocess.run(check, capture_output=True, check=False).returncode == 0:
        return str(python)
    if venv.resolve() == (ROOT / ".venv").resolve():
        raise SystemExit("the reference needs its own virtualenv, not the project's .venv")
    log(f"reference: creating {venv} and installing {', '.join(REFERENCE_PACKAGES)}")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *REFERENCE_PACKAGES], check=True
    )
    return str(python)


@contextmanager
def serving_reference(
    args: argparse.Namespace, plan: Plan, workdir: Path, log: Callable[[str], None]
) -> Iterator[Serving]:
    """Seed scim2-server (in its process) and serve it under gunicorn gthread 1 x 8 until the
    block ends."""
    python = reference_python(args, log)
    version = subprocess.run(
        [
            python,
            "-c",
            "import importlib.metadata as m; print(m.version('scim2-server'), "
            "m.version('gunicorn'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    run = ServerRun(
        "reference",
        f"scim2-server {version[0]} (in-memory) under gunicorn {version[1]} gthread, "
        f"1 worker x {args.reference_threads} threads",
    )
    token = "bench-reference-token"
    ids_file = workdir / "reference-ids.txt"
    port = free_port()
    env = dict(
        os.environ,
        SCIM_REF_BEARER_TOKEN=token,
        SCIM_REF_SEED_USERS=str(plan.users),
        SCIM_REF_IDS_FILE=str(ids_file),
    )
    cmd = [
        python,
        "-m",
        "gunicorn",
        "--preload",
        "--worker-class",
        "gthread",
        "--workers",
        "1",
        "--threads",
        str(args.reference_threads),
        "--keep-alive",
        "30",
        "--timeout",
        "300",
        "--bind",
        f"127.0.0.1:{port}",
        "--chdir",
        str(BENCH),
        "scim2_reference_app:app",
    ]
    base = f"http://127.0.0.1:{port}/v2"
    log(f"reference: seeding {plan.users:,} users in the server process, then serving on {base}")
    started = time.perf_counter()
    log_path = workdir / "reference.log"
    ready = base + "/ServiceProviderConfig"
    with running(cmd, env, log_path, ready, token, 120 + plan.users / 100) as meter:
        found = re.search(
            r"seeded [\d,]+ users in ([\d.]+) s", log_path.read_text(errors="replace")
        )
        run.seed_seconds = float(found.group(1)) if found else time.perf_counter() - started
        run.seed_how = "its own POST /Users handler, in the server process, before serving"
        ids = ids_file.read_text(encoding="utf-8").split()
        log(f"reference: seeded in {run.seed_seconds:.1f} s")
        yield Serving(run, base, token, ids, meter)


@contextmanager
def translator_paused(side: Serving, log: Callable[[str], None]) -> Iterator[None]:
    """Stop ours' translator (SIGSTOP) for the block, then let it go on (SIGCONT).

    ``--paired`` keeps both servers up and takes their phases in turn; while the reference is
    measured ours only waits, as when it was not running yet, except for its translator,
    which would go on onboarding the seeded users on the reference's cores."""
    stopped = side.meter.niced_processes()
    for pid in stopped:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)
    # A signal is delivered when the process is next scheduled: wait until it is stopped.
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and not all(_stopped(pid) for pid in stopped):
        time.sleep(0.005)
    try:
        yield
    finally:
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    if not stopped and "translator on" in side.run.description:
        log("ours: no translator process found to pause")


def _stopped(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in "Tt"
    except (OSError, IndexError):
        return True  # gone


def run_paired_round(
    args: argparse.Namespace, plan: Plan, workdir: Path, log: Callable[[str], None], n: int
) -> tuple[ServerRun, ServerRun]:
    """One round with both servers up, their phases taken in turn (``--paired``).

    A round of one server and then the other puts minutes between the two measures of a
    phase, and this shared machine's speed drifts by tens of percent over minutes; taken in
    turn, each pair runs seconds apart. The side that goes first alternates by phase."""
    with (
        serving_reference(args, plan, _fresh(workdir / "ref"), log) as ref,
        serving_ours_round(args, plan, _fresh(workdir / "ours"), log) as ours,
    ):
        ours.run.description += (
            "; both servers up at once, each phase measured on one and then the other (the "
            "first alternating), ours' translator stopped while the reference is measured "
            "(`--paired`)"
        )
        steps = {"ref": measure_steps(ref, plan, log), "ours": measure_steps(ours, plan, log)}
        for k in itertools.count():
            order = ("ref", "ours") if (n + k) % 2 == 0 else ("ours", "ref")
            done = False
            for side in order:
                if side == "ref":
                    with translator_paused(ours, log):
                        done = next(steps[side], None) is None or done
                else:
                    done = next(steps[side], None) is None or done
            if done:
                break
    return ours.run, ref.run


# --- report ----------------------------------------------------------------------------------

#: (phase, label, kind): kind "read" targets 2x the reference's throughput, "write" 1.5x.
ROWS = (
    ("post", "POST /Users", "write"),
    ("get", "GET /Users/{id}", "read"),
    ("filter", 'GET /Users?filter=userName eq "…"', "read"),
    ("patch active", "PATCH /Users/{id} active=false", "write"),
    ("member patch", "PATCH /Groups/{id} add 100 members (sequential)", "write"),
    ("paging", "GET /Users?startIndex=…&count=100 (concurrent)", "read"),
    ("page walk", "GET /Users?startIndex=…&count=100 (one sequential walk)", "read"),
)
TARGETS = {"read": 2.0, "write": 1.5}
#: Issue 14: on PostgreSQL (sharing the two cores with the API), reads 1.5x and writes 1x.
PG_TARGETS = {"read": 1.5, "write": 1.0}
TAIL_TARGET = 1.5


def _ms(value: float) -> str:
    return "–" if math.isnan(value) else (f"{value:.1f}" if value < 100 else f"{value:.0f}")


def _rate(phase: Phase | None) -> str:
    if phase is None:
        return "–"
    note = "*" if phase.timed_out or phase.errors else ""
    return f"{phase.rate:,.1f}{note}"


def _fresh(path: Path) -> Path:
    """Create a directory (if missing) and return it."""
    path.mkdir(parents=True, exist_ok=True)
    return path


def audit_table(off: list[ServerRun], on: list[ServerRun]) -> list[str]:
    """Return the Markdown table of write throughput with the audit trail off and on: the
    median over the rounds, and each round's rate."""
    lines = [
        "| operation | audit off ops/s (median) | audit on ops/s (median) | on / off | "
        "off, each round | on, each round |",
        "|---|---:|---:|---:|---|---|",
    ]
    for key in ("post", "patch active", "member patch"):
        a = [r.phases[key].rate for r in off if key in r.phases]
        b = [r.phases[key].rate for r in on if key in r.phases]
        if not a or not b:
            continue
        mid_a, mid_b = statistics.median(a), statistics.median(b)
        ratio = f"{mid_b / mid_a:.2f}" if mid_a else "–"
        lines.append(
            f"| {key} | {mid_a:.1f} | {mid_b:.1f} | {ratio} | "
            f"{', '.join(f'{x:.0f}' for x in a)} | {', '.join(f'{x:.0f}' for x in b)} |"
        )
    return lines


def table(ours: ServerRun, ref: ServerRun | None, targets: dict[str, float] = TARGETS) -> list[str]:
    """Return the Markdown tables: throughput, then latency independence."""
    lines = [
        "| operation | ours ops/s | reference ops/s | ratio | target | met | "
        "ours p50 / p99 ms | reference p50 / p99 ms |",
        "|---|---:|---:|---:|---:|:-:|---:|---:|",
    ]
    for key, label, kind in ROWS:
        mine = ours.phases.get(key)
        theirs = ref.phases.get(key) if ref else None
        ratio = mine.rate / theirs.rate if mine and theirs and theirs.rate else math.nan
        target = targets[kind]
        met = "–" if math.isnan(ratio) else ("yes" if ratio >= target else "**no**")
        lines.append(
            f"| {label} | {_rate(mine)} | {_rate(theirs)} | "
            f"{'–' if math.isnan(ratio) else f'{ratio:.2f}x'} | ≥ {target}x | {met} | "
            f"{_ms(mine.pct(0.5)) if mine else '–'} / {_ms(mine.pct(0.99)) if mine else '–'} | "
            f"{_ms(theirs.pct(0.5)) if theirs else '–'} / "
            f"{_ms(theirs.pct(0.99)) if theirs else '–'} |"
        )
    lines += [
        "",
        "| latency independence (mean ms) | ours first 10% | ours last 10% | ours ratio | met | "
        "reference first 10% | reference last 10% | reference ratio |",
        "|---|---:|---:|---:|:-:|---:|---:|---:|",
    ]
    for key, label in (
        ("member patch", "PATCH add 100 members, by batch (group grows)"),
        ("page walk", "page of 100, by position (sequential walk)"),
    ):
        cells = []
        met = "–"
        for run in (ours, ref):
            phase = run.phases.get(key) if run else None
            if phase is None or not phase.latencies:
                cells += ["–", "–", "–"]
                continue
            first, last = phase.tails()
            ratio = last / first
            n = max(1, len(phase.latencies) // 10)
            cells += [f"{first:.1f}", f"{last:.1f}", f"{ratio:.2f} (n={n})"]
            if run is ours:
                met = "yes" if ratio <= TAIL_TARGET else "**no**"
        lines.append(
            f"| {label} | {cells[0]} | {cells[1]} | {cells[2]} | {met} | "
            f"{cells[3]} | {cells[4]} | {cells[5]} |"
        )
    return lines


def machine() -> str:
    """Describe the machine: architecture, CPUs, CPU model."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.machine()}, {os.cpu_count()} CPUs ({model})"


def revision() -> str:
    """Name the code measured: the commit, and whether the work tree had changes."""
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "an unknown revision"
    return out.stdout.strip()


def details(ours: ServerRun, ref: ServerRun | None, plan: Plan) -> list[str]:
    """Return the notes under the table: how each server was run and how much was sent."""
    out = []
    for run in (ours, ref):
        if run is None:
            continue
        out.append(
            f"- {run.label}: {run.description}; {plan.users:,} users seeded through "
            f"{run.seed_how} in {run.seed_seconds:.0f} s."
        )

    def count(key: str) -> str:
        parts = []
        for run in (ours, ref):
            phase = run.phases.get(key) if run else None
            if phase is not None:
                cpu = phase.client_cpu / max(1, phase.ops + phase.errors) * 1000
                text = (
                    f"{run.label} {phase.ops:,}/{phase.planned:,} ({cpu:.2f} ms client CPU/op, "
                    f"server {phase.server_cpu / max(1, phase.ops) * 1000:.2f} ms CPU/op = "
                    f"{phase.server_cpu / phase.elapsed:.2f} cores"
                    + translator_share(phase)
                    + f", other processes {phase.other_cpu / phase.elapsed:.2f} cores"
                )
                if phase.errors:
                    text += f", {phase.errors} errors: {phase.first_error[:120]}"
                if phase.timed_out:
                    text += ", stopped at the time limit"
                parts.append(text + ")")
        return "; ".join(parts)

    out.append(
        f"- Load: {plan.clients} client threads in one process on the same machine, one "
        f"keep-alive {CLIENT_NAMES[plan.client]} each; reads are sent to random seeded "
        "users, PATCH active=false to distinct ones, each after a short warm-up. The member "
        "PATCH and the page walk run from one client, one request at a time, as an IdP does."
    )
    for key, label, _kind in ROWS:
        out.append(f"- {label}: {count(key)}.")
    out.append(
        "- The machine is shared: 'other processes' is the CPU that everything but the two "
        "servers and this client used during a measure; more than a few tenths of a core "
        "means that measure ran short of CPU. Server CPU per operation is the steadier figure."
    )
    out.append(
        "- `*` marks a run stopped by errors or by the per-operation time limit "
        f"({plan.phase_timeout:.0f} s); its rate counts the operations that completed."
    )
    return out


INTRO = (
    "Written by `bench/scim_load.py`: scim-bridge (`scim-bridge serve`, SQLite or PostgreSQL, "
    "translator on unless the title says otherwise, the DingTalk emulator in its own process) "
    "against the reference server scim2-server (PyPI, in-memory, gunicorn gthread 1x8), side "
    "by side in one run on this machine, over HTTP on 127.0.0.1. One subsection per store "
    "size, store and mode; a run replaces its own. Targets at 10,000 users (issue 14, "
    "translator on): on SQLite reads (GET by id, filter, paging) ≥ 2x the reference's "
    "throughput, writes (POST, PATCH) ≥ 1.5x; on PostgreSQL ≥ 1.5x and ≥ 1x; the latency of "
    "the member PATCH and of a page independent of group and store size (mean of the last 10% "
    "within 1.5x of the first 10%)."
)


def subsection_title(args: argparse.Namespace, users: int) -> str:
    """Name a run's subsection: store size, store, translator."""
    title = f"### {users:,} users"
    if args.database_url:
        title += ", PostgreSQL"
    if not args.no_translator:
        title += ", translator on"
    return title


def write_docs(path: Path, title: str, body: list[str]) -> None:
    """Replace the ``title`` part (``### N users…``) of the ``## SCIM load`` section.

    The other sections of the file, and the subsections of other store sizes, stores and
    modes, are kept.
    """
    text = (
        path.read_text(encoding="utf-8")
        if path.exists()
        else (
            "# Benchmarks\n\n"
            "Each section is written by the benchmark it names; rerun it to refresh.\n"
        )
    )
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    found = pattern.search(text)
    parts: dict[str, str] = {}
    if found:
        for chunk in re.split(r"^(?=### )", found.group(0), flags=re.M)[1:]:
            parts[chunk.split("\n", 1)[0].strip()] = chunk.rstrip() + "\n"
    parts[title] = "\n".join([title, "", *body]).rstrip() + "\n"

    def order(heading: str) -> tuple[int, str]:
        size = re.match(r"### ([\d,]+) users", heading)
        return (int(size.group(1).replace(",", "")) if size else 0, heading)

    section = "\n".join([SECTION, "", INTRO, "", *(parts[k] for k in sorted(parts, key=order))])
    section = section.rstrip() + "\n"
    if found:
        text = text[: found.start()] + section + "\n" + text[found.end() :]
        text = text.rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


# --- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=None, help="store size (default 100000)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1,000 users, < 60 s")
    parser.add_argument("--clients", type=int, default=16, help="client threads (default 16)")
    parser.add_argument(
        "--client",
        choices=("http", "requests"),
        default="http",
        help="per-thread keep-alive client: http.client (default, lighter) or requests.Session",
    )
    parser.add_argument("--workers", type=int, default=None, help="our workers (serve's default)")
    parser.add_argument("--threads", type=int, default=None, help="our threads (serve's default)")
    parser.add_argument("--reference-threads", type=int, default=8, help="reference threads (8)")
    parser.add_argument("--read-ops", type=int, default=None, help="ops per read measure")
    parser.add_argument("--write-ops", type=int, default=None, help="ops per write measure")
    parser.add_argument("--page-ops", type=int, default=None, help="pages per client, paging")
    parser.add_argument("--walk-pages", type=int, default=None, help="pages of the walk")
    parser.add_argument("--member-batches", type=int, default=None, help="member PATCH batches")
    parser.add_argument(
        "--phase-timeout", type=float, default=None, help="seconds per measure (default 300)"
    )
    parser.add_argument(
        "--reference-python",
        type=Path,
        help="python of a virtualenv with scim2-server and gunicorn (default: create one)",
    )
    parser.add_argument(
        "--reference-venv",
        type=Path,
        default=DEFAULT_REFERENCE_VENV,
        help=f"where to create the reference virtualenv (default {DEFAULT_REFERENCE_VENV})",
    )
    parser.add_argument("--no-reference", action="store_true", help="measure ours only")
    parser.add_argument(
        "--audit-compare",
        action="store_true",
        help="measure ours twice, audit trail off then on (no reference, no docs; "
        "--database-url: on PostgreSQL)",
    )
    parser.add_argument(
        "--audit-rounds", type=int, default=1, help="off/on pairs for --audit-compare (1)"
    )
    parser.add_argument(
        "--docs",
        type=Path,
        default=None,
        help="Markdown file whose '## SCIM load' section is replaced "
        "(default docs/benchmarks.md; --quick writes none unless given)",
    )
    parser.add_argument("--no-docs", action="store_true", help="print only")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (db, logs)")
    # Issue 14 (perf): serve's defaults with the translator on, SQLite or PostgreSQL, rounds.
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL server URL: ours runs on a fresh database created there "
        "(default: SQLite)",
    )
    parser.add_argument(
        "--no-translator", action="store_true", help="API only (`serve --no-worker`)"
    )
    parser.add_argument(
        "--emulator-qps", type=float, default=20.0, help="the emulator's quota per API (20)"
    )
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds (1)")
    parser.add_argument(
        "--paired",
        action="store_true",
        help="both servers up at once, each phase measured on one then the other (ours' "
        "translator paused while the reference is measured): drift between the two measures "
        "of a phase is seconds, not minutes",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    return parser.parse_args(argv)


def make_plan(args: argparse.Namespace) -> Plan:
    """Turn the options into amounts, smaller under --quick."""
    users = args.users or (1000 if args.quick else 100_000)
    quick = args.quick

    def pick(value: int | None, default: int) -> int:
        return value if value is not None else default

    # Measures of a few seconds at least: 2-second ones varied by +-10% between runs on this
    # shared 2-core machine.
    return Plan(
        users=users,
        clients=args.clients,
        read_ops=pick(args.read_ops, 300 if quick else 8000),
        write_ops=pick(args.write_ops, 200 if quick else 5000),
        page_ops_per_client=pick(args.page_ops, 2 if quick else 20),
        walk_pages=pick(args.walk_pages, users // 100),
        member_batches=pick(args.member_batches, min(users // 100, 1000)),
        phase_timeout=args.phase_timeout or (20.0 if quick else 300.0),
        client=args.client,
    )


def main(argv: list[str] | None = None) -> int:
    """Run both servers, print the table, write the docs section."""
    args = parse_args(argv)
    plan = make_plan(args)
    command = "python bench/scim_load.py " + " ".join(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f}s] {message}", file=sys.stderr, flush=True)

    log(f"plan: {plan}")
    workdir = Path(tempfile.mkdtemp(prefix="scim-load-"))
    if args.audit_compare:
        runs: dict[bool, list[ServerRun]] = {False: [], True: []}
        try:
            # Alternate the order round by round: drift on a shared machine hits both sides.
            for n in range(args.audit_rounds):
                for audit in (False, True) if n % 2 == 0 else (True, False):
                    label = f"audit {'on' if audit else 'off'}"
                    with contextlib.ExitStack() as stack:
                        # --database-url: each run on a fresh PostgreSQL database of its own.
                        url = (
                            stack.enter_context(postgres_database(args.database_url))
                            if args.database_url
                            else None
                        )
                        where = _fresh(workdir / f"r{n}")
                        runs[audit].append(
                            measured(
                                serving_ours(
                                    args,
                                    plan,
                                    where,
                                    log,
                                    audit=audit,
                                    label=label,
                                    database_url=url,
                                ),
                                plan,
                                log,
                            )
                        )
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        print("\n".join(["", *audit_table(runs[False], runs[True])]))
        return 0
    mine: list[ServerRun] = []
    refs: list[ServerRun] = []
    try:
        # Interleaved rounds, the order alternating: the machine is shared, and drift hits
        # both sides alike; the table shows each side's median round.
        for n in range(args.rounds):
            if args.paired and not args.no_reference:
                mine_n, ref_n = run_paired_round(args, plan, _fresh(workdir / f"round{n}"), log, n)
                mine.append(mine_n)
                refs.append(ref_n)
                continue
            sides = ("ref", "ours") if n % 2 == 0 else ("ours", "ref")
            for side in sides:
                where = _fresh(workdir / f"round{n}")
                if side == "ref" and not args.no_reference:
                    refs.append(measured(serving_reference(args, plan, where, log), plan, log))
                elif side == "ours":
                    mine.append(measured(serving_ours_round(args, plan, where, log), plan, log))
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    ours = ServerRun(mine[0].label, mine[0].description, mine[0].seed_seconds, mine[0].seed_how)
    ours.phases = median_phases(mine)
    ref = None
    if refs:
        ref = ServerRun(refs[0].label, refs[0].description, refs[0].seed_seconds, refs[0].seed_how)
        ref.phases = median_phases(refs)
    if args.json:
        write_json(
            args.json,
            backend="postgresql" if args.database_url else "sqlite",
            users=plan.users,
            translator=not args.no_translator,
            rows=json_rows(ours, ref, mine, refs),
        )
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = table(ours, ref, PG_TARGETS if args.database_url else TARGETS)
    if len(mine) > 1 and refs:
        rows += ["", *rounds_lines(mine, refs)]
    body = [
        "| date | machine | command |",
        "|---|---|---|",
        f"| {when} | {machine()} | `{command.strip()}` at {revision()} |",
        "",
        *rows,
        "",
        *details(ours, ref, plan),
    ]
    print("\n".join(["", *rows, "", *details(ours, ref, plan)]))
    docs = args.docs or (None if args.quick else ROOT / "docs" / "benchmarks.md")
    if docs is not None and not args.no_docs:
        write_docs(docs, subsection_title(args, plan.users), body)
        log(f"wrote the '{SECTION}' section of {docs}")
    log(f"done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
