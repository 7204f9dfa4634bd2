"""Instructions per operation, counted by valgrind's callgrind: a cost measure noise cannot move.

Wall-clock ratios on a shared, loaded machine swing by 10-20% between runs, so they cannot
prove a 5% or 10% bound (issue 11 and 12, acceptance 4). Instructions executed by this process
can: the same workload with the same hash seed executes the same instructions within a small
fraction of a percent, whatever the neighbours do.

How: the workload runs in a child process under ``valgrind --tool=callgrind --instr-atstart=no``
(``PYTHONHASHSEED`` fixed). The child sets itself up (store, app, warm-up) uninstrumented, then
for each measured phase asks callgrind itself (``callgrind_control -i on|off <pid>``) to count,
runs the phase, and dumps the count (``--dump=<phase>``, which zeroes it). The parent reads
each dump's ``totals`` and divides by the operations of the phase. Only this process is
counted: a PostgreSQL server's work and the DingTalk emulator's (it runs in the parent) are not.

Workloads (``--workload``):

- ``scim``: POST /Users, then PATCH /Users (deactivate) on the users just made, through the
  Flask test client of ``create_app``, on a real SQLite file in WAL mode or PostgreSQL; with
  the audit trail on, a third phase runs the sequencer (``chain_pending``, as the worker's
  ``audit-chain`` job does) over exactly the records those writes left.
- ``translator``: the worker built by the composition root projects waiting users onto the
  emulator, one claimed outbox row after another in one thread (a thread pool's polling
  would add instructions that depend on time); the SLA counts are flushed at the end.

``--set NAME=BOOL`` switches a setting (audit_enabled, metrics_enabled, sla_enabled);
``--compare NAME[,NAME]`` (e.g. ``metrics_enabled,sla_enabled``) runs the workload with those
off, then on, and prints both and the ratio; ``--repeat 2`` runs each configuration twice to
show the count is repeatable. Keep ``--ops`` small: callgrind runs Python about 50 times slower.

    .venv/bin/python bench/instructions.py --compare audit_enabled --ops 100
    .venv/bin/python bench/instructions.py --compare audit_enabled --database-url postgresql://...
    .venv/bin/python bench/instructions.py --workload translator --compare sla_enabled
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from audit_overhead import fresh_postgres
from scim_load_data import deactivate_body, user_body

from scim_bridge.directory import users
from scim_bridge.directory.db import Database, upgrade
from scim_bridge.directory.rows import Context
from scim_bridge.directory.tokens import Principal, create_token
from scim_bridge.monitor.audit_chain import chain_pending

#: The hash seed every counted run uses (str hashes decide dict and set layouts).
HASH_SEED = "0"
#: The settings a run may switch.
SWITCHES = ("audit_enabled", "metrics_enabled", "sla_enabled")
_TOTALS = re.compile(r"^totals:\s+(\d+)", re.MULTILINE)
_TRIGGER = re.compile(r"^desc: Trigger: dump (\S+)", re.MULTILINE)


@dataclass
class Spec:
    """One counted run, as the parent hands it to the child (JSON)."""

    workload: str
    url: str
    switches: dict[str, bool]
    ops: int
    warmup: int
    token: str = ""
    emulator_url: str = ""
    app_key: str = ""
    app_secret: str = ""
    folder: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


# --- the child: runs under callgrind ---------------------------------------------------------


def _callgrind(*args: str) -> None:
    """Ask callgrind (which runs this process) to do something, and wait until it has."""
    subprocess.run(["callgrind_control", *args, str(os.getpid())], check=True, capture_output=True)


def counted(phase: str, work: Callable[[], object]) -> None:
    """Run ``work`` with instruction counting on, then dump the count under ``phase``."""
    _callgrind("-i", "on")
    work()
    _callgrind("-i", "off")
    _callgrind(f"--dump={phase}")


def _settings(spec: Spec) -> Any:
    from scim_bridge.settings import Settings

    return Settings(
        database_url=spec.url,
        dingtalk_base_url=spec.emulator_url or "emulator",
        dingtalk_app_key=spec.app_key,
        dingtalk_app_secret=spec.app_secret,
        dingtalk_qps=10_000,  # DingTalk's quota is not what is counted
        runtime_dir=str(Path(spec.folder) / "run"),
    ).replace(**spec.switches)


def child_scim(spec: Spec) -> None:
    """POST then PATCH /Users through the app; then the sequencer over their records."""
    from scim_bridge.app import create_app

    metrics_dir = None
    if spec.switches.get("metrics_enabled", True):
        # As gunicorn runs the API (cli/serve.py): prometheus-client's multiprocess files.
        metrics_dir = Path(spec.folder) / "metrics"
        metrics_dir.mkdir(exist_ok=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    database = Database(spec.url)
    client = create_app(_settings(spec), db=database, metrics_dir=metrics_dir).test_client()
    headers = {"Authorization": f"Bearer {spec.token}"}
    first = spec.extra["first"]

    def post(start: int, count: int) -> list[str]:
        made = []
        for i in range(start, start + count):
            answer = client.post("/scim/v2/Users", json=user_body(i), headers=headers)
            assert answer.status_code == 201, answer.data
            made.append(answer.get_json()["id"])
        return made

    def patch(ids: list[str]) -> None:
        for user_id in ids:
            answer = client.patch(
                f"/scim/v2/Users/{user_id}", json=deactivate_body(), headers=headers
            )
            assert answer.status_code in (200, 204), answer.data

    def chain() -> None:
        chain_pending(database, now=datetime.now(UTC))

    patch(post(first, spec.warmup))
    chain()  # the warm-up's records are chained before anything is counted
    made: list[str] = []
    counted("POST", lambda: made.extend(post(first + spec.warmup, spec.ops)))
    counted("PATCH", lambda: patch(made))
    if spec.switches.get("audit_enabled", True):
        counted("chain", chain)
    database.dispose()


def child_translator(spec: Spec) -> None:
    """Project waiting users onto the emulator, one outbox row at a time, as the worker does."""
    from scim_bridge.bootstrap import build_worker
    from scim_bridge.monitor.metrics import Metrics
    from scim_bridge.sync import claims
    from scim_bridge.sync.worker import WorkerConfig

    settings = _settings(spec)
    database = Database(spec.url)
    # A worker's own metrics, as `scim-bridge worker` builds them when they are on.
    metrics = Metrics() if settings.metrics_enabled else None
    worker = build_worker(settings, database, config=WorkerConfig(threads=1), metrics=metrics)

    def translate(count: int) -> None:
        for _ in range(count):
            with database.write() as session:
                batch = claims.claim_batch(
                    session,
                    owner=worker.owner,
                    now=worker.clock(),
                    limit=1,
                    lease=worker.config.lease,
                )
            assert batch, "the outbox ran dry before the measure ended"
            # The worker's own path for one claimed row (lock, translate, settle); called
            # directly, not from its pool, so no polling loop runs while it waits.
            worker._process_and_release(batch[0])

    def measured() -> None:
        translate(spec.ops)
        if worker.sla is not None:
            worker.sla.flush()  # the bookkeeping's database write belongs to its cost

    translate(spec.warmup)
    if worker.sla is not None:
        worker.sla.flush()
    counted("translate", measured)
    worker.translator.client.close()
    database.dispose()


def child(path: str) -> None:
    """Run the spec in ``path`` (the process callgrind watches)."""
    spec = Spec(**json.loads(Path(path).read_text()))
    {"scim": child_scim, "translator": child_translator}[spec.workload](spec)


# --- the parent: prepares the store, runs the child under callgrind, reads the counts --------


def person(i: int) -> dict[str, Any]:
    """A user DingTalk accepts (a mobile and a name), as bench/sla_overhead.py makes them."""
    return {
        "userName": f"ins{i:07d}@example.com",
        "name": {"givenName": "I", "familyName": f"N{i}"},
        "displayName": f"Instr {i}",
        "phoneNumbers": [{"value": f"+86 138{i:08d}", "type": "mobile"}],
    }


def prepare(url: str, *, preload: int, waiting: int, ddl: tuple[str, ...] = ()) -> str:
    """Build the store at head with ``preload`` users already written (and their records
    chained, as an established trail is), plus ``waiting`` users the translator has yet to
    project; return a SCIM token. ``ddl``: statements run after the migrations (to count a
    schema variant, e.g. an index dropped, before writing a migration for it)."""
    upgrade(url)
    database = Database(url)
    with database.engine.begin() as conn:
        for statement in ddl:
            conn.exec_driver_sql(statement)
    now = datetime.now(UTC)
    with database.write() as session:
        _row, token = create_token(session, "instructions", now=now)
    ctx = Context(principal=Principal(1, "instructions", "okta", "okta"), now=now, audit=True)
    for i in range(preload):
        with database.transaction() as cur:
            users.create_user(cur, user_body(900_000 + i), ctx)
    for i in range(waiting):
        with database.transaction() as cur:
            users.create_user(cur, person(i), ctx)
    chain_pending(database, now=now)
    database.dispose()
    return token


def run_counted(spec: Spec, folder: Path) -> dict[str, int]:
    """Run the spec's child under callgrind; return the instructions of each counted phase."""
    spec_path = folder / "spec.json"
    spec_path.write_text(json.dumps(asdict(spec)))
    out = folder / "callgrind.out"
    cmd = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}",
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        str(spec_path),
    ]
    env = {**os.environ, "PYTHONHASHSEED": HASH_SEED}
    done = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the counted run failed:\n{done.stderr[-3000:]}")
    phases: dict[str, int] = {}
    for dump in sorted(folder.glob("callgrind.out.*"), key=lambda p: int(p.suffix[1:])):
        body = dump.read_text(errors="replace")
        trigger, totals = _TRIGGER.search(body), _TOTALS.search(body)
        if trigger and totals:
            phases[trigger.group(1)] = int(totals.group(1))
        dump.unlink()
    return phases


def per_op(workload: str, phases: dict[str, int], ops: int) -> dict[str, float]:
    """Return instructions per operation of each phase; with the sequencer's share per record
    added to each write (every SCIM write leaves one record: POST and PATCH alike)."""
    if workload == "translator":
        return {"translator, per user projected": phases["translate"] / ops}
    out = {"POST /Users": phases["POST"] / ops, "PATCH /Users": phases["PATCH"] / ops}
    chain = phases.get("chain", 0) / (2 * ops)
    out["sequencer, per record"] = chain
    out["POST /Users + its chaining"] = out["POST /Users"] + chain
    out["PATCH /Users + its chaining"] = out["PATCH /Users"] + chain
    return out


def one_run(
    args: argparse.Namespace, switches: dict[str, bool], root: Path, n: int
) -> dict[str, float]:
    """Prepare a fresh store, count one run of the workload, return instructions per op."""
    folder = root / f"run-{n}"
    folder.mkdir()
    drop: Callable[[], None] = lambda: None  # noqa: E731
    if args.database_url:
        url, drop = fresh_postgres(args.database_url)
    else:
        url = f"sqlite:///{folder / 'store.db'}"
    try:
        translator = args.workload == "translator"
        waiting = args.warmup + args.ops if translator else 0
        token = prepare(
            url,
            preload=0 if translator else args.preload,
            waiting=waiting,
            ddl=tuple(args.ddl),
        )
        spec = Spec(
            workload=args.workload,
            url=url,
            switches=switches,
            ops=args.ops,
            warmup=args.warmup,
            token=token,
            folder=str(folder),
            extra={"first": 0},
        )
        if translator:
            emulator = args.emulator
            emulator.emulator.reset()
            config = emulator.emulator.config
            spec.emulator_url, spec.app_key = emulator.url, config.app_key
            spec.app_secret = config.app_secret
        return per_op(args.workload, run_counted(spec, folder), args.ops)
    finally:
        drop()


def compare(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    """Count the workload with ``args.compare`` off and on (``args.repeat`` times each,
    alternating); print the table; return every number (for docs/evidence)."""
    base = dict(item for item in args.set)
    runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    n = 0
    for r in range(args.repeat):
        sides = ((False, True) if r % 2 == 0 else (True, False)) if args.compare else (False,)
        for side in sides:
            switches = {**base, **dict.fromkeys(args.compare, side)}
            runs[side].append(one_run(args, switches, root, n))
            n += 1
    backend = "PostgreSQL" if args.database_url else "SQLite (WAL)"
    print(
        f"\n{args.workload} on {backend}: instructions per operation (callgrind), "
        f"{args.ops} ops per run after {args.warmup} warm-up, {args.preload} users preloaded, "
        f"settings {base or 'default'}, compared: {','.join(args.compare) or '-'}"
        + (f", schema changed by {args.ddl}" if args.ddl else "")
    )
    print("| phase | off | on | on / off - 1 | off, each run | on, each run |")
    print("|---|---:|---:|---:|---|---|")
    for phase in runs[False][0] if runs[False] else runs[True][0]:
        offs = [run[phase] for run in runs[False]]
        ons = [run[phase] for run in runs[True]]
        a = sum(offs) / len(offs) if offs else 0.0
        b = sum(ons) / len(ons) if ons else 0.0
        ratio = f"{(b / a - 1) * 100:+.2f}%" if a and b else "-"
        print(f"| {phase} | {a:,.0f} | {b:,.0f} | {ratio} | {_each(offs)} | {_each(ons)} |")
    return {
        "workload": args.workload,
        "backend": backend,
        "ops": args.ops,
        "runs": {"off": runs[False], "on": runs[True]},
    }


def _each(counts: list[float]) -> str:
    if len(counts) < 2:
        return ", ".join(f"{c:,.0f}" for c in counts)
    spread = (max(counts) - min(counts)) / min(counts) * 100 if min(counts) else 0.0
    return ", ".join(f"{c:,.0f}" for c in counts) + f" (spread {spread:.2f}%)"


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names or any(n not in SWITCHES for n in names):
        raise argparse.ArgumentTypeError(f"{text!r}: name one or more of {SWITCHES}, by commas")
    return names


def _switch(text: str) -> tuple[str, bool]:
    name, _, value = text.partition("=")
    if name not in SWITCHES or value.lower() not in ("true", "false", "on", "off"):
        raise argparse.ArgumentTypeError(f"{text!r}: use NAME=true|false, NAME one of {SWITCHES}")
    return name, value.lower() in ("true", "on")


def parser() -> argparse.ArgumentParser:
    """The command line (bench/audit_overhead.py and sla_overhead.py pass theirs through)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workload", choices=("scim", "translator"), default="scim")
    p.add_argument("--ops", type=int, default=100, help="operations counted per run (100)")
    p.add_argument("--warmup", type=int, default=20, help="operations before counting (20)")
    p.add_argument("--preload", type=int, default=500, help="users already in the store (500)")
    p.add_argument("--repeat", type=int, default=1, help="runs per configuration (1)")
    p.add_argument("--database-url", default="", help="a PostgreSQL server (else SQLite)")
    p.add_argument("--set", type=_switch, action="append", default=[], metavar="NAME=BOOL")
    p.add_argument(
        "--compare", type=_names, default=[], help="count with these settings off, then on (a,b)"
    )
    p.add_argument("--ddl", action="append", default=[], help="SQL run after the migrations")
    p.add_argument("--json", default="", help="also write every number to this file")
    p.add_argument("--child", default="", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    """Count, print, and optionally save the numbers."""
    args = parser().parse_args(argv)
    if args.child:
        child(args.child)
        return 0
    return run(args)


def run(args: argparse.Namespace) -> int:
    """Run the comparison the parsed arguments ask for."""
    from scim_bridge.dingtalk.emulator import EmulatorConfig, start_emulator

    args.emulator = start_emulator(EmulatorConfig(qps=0)) if args.workload == "translator" else None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            found = compare(args, Path(tmp))
    finally:
        if args.emulator is not None:
            args.emulator.stop()
    if args.json:
        Path(args.json).write_text(json.dumps(found, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
