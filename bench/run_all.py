"""`make bench`: run every benchmark of the project and rewrite docs/benchmarks.md's summary.

Each benchmark runs as its own process, one after the other (they would measure each other
otherwise), at full size by default or at smoke size with ``--quick``. Progress goes to
stderr; each benchmark's own output to a log file. Then the "## Summary (`make bench`)"
section of ``--output`` is rewritten: date, machine (CPU model, cores, RAM), commit, and every
figure beside its reference or target with a pass/fail column (bench/run_all_report.py reads
the figures). At full size and into docs/benchmarks.md, the benchmarks that write a section
of their own refresh it too; otherwise they are told not to write.

    .venv/bin/python bench/run_all.py                          # everything, full size (hours)
    .venv/bin/python bench/run_all.py --quick                  # a smoke run of everything
    .venv/bin/python bench/run_all.py --quick --only translator_cpu --output /tmp/b.md

PostgreSQL figures need a server: ``--postgres-url`` (or SCIM_BRIDGE_BENCH_POSTGRES_URL, else
SCIM_BRIDGE_TEST_POSTGRES_URL);
without one they are skipped and the summary says so. Benchmarks another branch adds
(onboarding, leaver_lag, member_patch, reliability) run when their file is present.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from run_all_report import (  # noqa: E402
    Figure,
    scim_load_figures,
    summary_section,
    table_figures,
    text_figures,
    translator_figures,
)

HEADING = "## Summary (`make bench`)"
DOCS = ROOT / "docs" / "benchmarks.md"
#: Translator CPU per change at 08d125e (before issue 14's cuts): the mean of two runs of
#: bench/translator_cpu.py --people 300 on SQLite, interleaved with the after runs, on this
#: shared 2-core machine at a load average of 20-38 (docs/benchmarks.md, "Translator CPU").
TRANSLATOR_BEFORE = {
    "create_ms_cpu": "29.4 ms at 08d125e",
    "update_ms_cpu": "17.4 ms at 08d125e",
}
JSON_OUT = "{json}"  # replaced by the path of the benchmark's figures file
PG = "{pg}"  # replaced by the PostgreSQL server URL


@dataclass(frozen=True)
class Bench:
    """One benchmark: its script, its arguments at each size, how its figures are read."""

    name: str
    script: str
    full: list[str]
    quick: list[str] | None  # None: too long for a smoke run, skipped under --quick
    no_docs: list[str] = field(default_factory=list)
    reads: str = "tables"  # "tables", "scim_load" or "translator"
    postgres: bool = False  # needs a PostgreSQL server (PG placeholders in its arguments)


BENCHES = (
    Bench(
        "translator_cpu",
        "translator_cpu.py",
        ["--people", "2000", "--json"],
        ["--people", "30", "--json"],
        reads="translator",
    ),
    Bench(
        "translator_cpu_pg",
        "translator_cpu.py",
        ["--people", "2000", "--json", "--database-url", PG],
        ["--people", "30", "--json", "--database-url", PG],
        reads="translator",
        postgres=True,
    ),
    Bench(
        "scim_load",
        "scim_load.py",
        ["--users", "10000", "--rounds", "3", "--paired", "--json", JSON_OUT],
        ["--quick", "--paired", "--json", JSON_OUT],
        ["--no-docs"],
        reads="scim_load",
    ),
    Bench(
        "scim_load_pg",
        "scim_load.py",
        ["--users", "10000", "--rounds", "3", "--paired", "--database-url", PG, "--json", JSON_OUT],
        ["--quick", "--paired", "--database-url", PG, "--json", JSON_OUT],
        ["--no-docs"],
        reads="scim_load",
        postgres=True,
    ),
    Bench(
        "sync_lag",
        "sync_lag.py",
        [],
        ["--users", "20", "--seconds", "5", "--onboard", "40"],
        ["--no-docs"],
    ),
    Bench("onboarding", "onboarding.py", [], None),
    Bench("leaver_lag", "leaver_lag.py", [], None),
    Bench(
        "dingtalk_throughput",
        "dingtalk_throughput.py",
        ["--update-docs", str(DOCS)],
        ["--users", "40", "--threads", "4", "--latency-ms", "5"],
    ),
    Bench("reconcile_bench", "reconcile_bench.py", [], ["--users", "200", "--departments", "10"]),
    Bench("mapping_bench", "mapping_bench.py", [], ["--users", "500"], ["--no-write"]),
    Bench("plan_quality", "cli_bench.py", [], ["--users", "300", "--groups", "10"], ["--no-docs"]),
    Bench(
        "metrics_bench",
        "metrics_bench.py",
        [],
        ["--users", "1000", "--dead", "20", "--scrapes", "5", "--writes", "30", "--rounds", "1"],
    ),
    Bench(
        "sla_overhead", "sla_overhead.py", [], ["--writes", "30", "--users", "50", "--rounds", "1"]
    ),
    Bench("audit_overhead", "audit_overhead.py", [], ["--ops", "30", "--rounds", "1"]),
    Bench(
        "console_pages",
        "console_pages.py",
        [],
        ["--people", "200", "--dead", "20", "--rounds", "1"],
    ),
    Bench(
        "bulk_refs",
        "bulk_refs.py",
        [],
        ["--ops", "30", "--filters", "20", "--no-baseline"],
        ["--no-docs"],
    ),
    Bench("member_patch", "member_patch.py", [], None),
    Bench("reliability", "reliability.py", [], None),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="smoke sizes (minutes, not hours)")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--skip", default="", help="comma-separated benchmark names to skip")
    parser.add_argument("--output", type=Path, default=DOCS, help=f"default {DOCS}")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("SCIM_BRIDGE_BENCH_POSTGRES_URL")
        or os.environ.get("SCIM_BRIDGE_TEST_POSTGRES_URL", ""),
        help="PostgreSQL server for the _pg benchmarks (default $SCIM_BRIDGE_BENCH_POSTGRES_URL, "
        "else $SCIM_BRIDGE_TEST_POSTGRES_URL)",
    )
    parser.add_argument("--timeout", type=float, default=None, help="seconds per benchmark")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    names = {b.name for b in BENCHES}
    for given in filter(None, (args.only + "," + args.skip).split(",")):
        if given.strip() not in names:
            parser.error(f"no benchmark named {given!r}; --list shows them")
    return args


def selected(args: argparse.Namespace) -> list[Bench]:
    """Return the benchmarks this run is to run, in order."""
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    skip = {n.strip() for n in args.skip.split(",") if n.strip()}
    return [b for b in BENCHES if (not only or b.name in only) and b.name not in skip]


@dataclass
class Outcome:
    """What running one benchmark gave."""

    bench: Bench
    status: str  # "ok", "failed (exit N)", "timed out", "skipped: why"
    seconds: float = 0.0
    figures: list[Figure] = field(default_factory=list)


def command(bench: Bench, args: argparse.Namespace, json_path: Path) -> list[str]:
    """Return the command line of one benchmark at this run's size."""
    wanted = bench.quick if args.quick else bench.full
    assert wanted is not None
    writes_docs = not args.quick and args.output.resolve() == DOCS.resolve()
    extra = [] if writes_docs else bench.no_docs
    parts = [a.replace(JSON_OUT, str(json_path)).replace(PG, args.postgres_url) for a in wanted]
    return [sys.executable, str(BENCH / bench.script), *parts, *extra]


def run_one(bench: Bench, args: argparse.Namespace, logs: Path, say: Progress) -> Outcome:
    """Run one benchmark, its output to a log file; read its figures."""
    if not (BENCH / bench.script).exists():
        return Outcome(bench, "skipped: not in this tree")
    if (bench.quick if args.quick else bench.full) is None:
        return Outcome(bench, "skipped: full size only")
    if bench.postgres and not args.postgres_url:
        return Outcome(bench, "skipped: no --postgres-url")
    json_path = logs / f"{bench.name}.json"
    cmd = command(bench, args, json_path)
    timeout = args.timeout or (900.0 if args.quick else 4 * 3600.0)
    log_path = logs / f"{bench.name}.log"
    say.start(bench.name, cmd, log_path)
    started = time.perf_counter()
    with log_path.open("w", encoding="utf-8") as err:
        try:
            done = subprocess.run(
                cmd,
                check=False,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return Outcome(bench, f"timed out after {timeout:.0f} s", time.perf_counter() - started)
    seconds = time.perf_counter() - started
    (logs / f"{bench.name}.out").write_text(done.stdout, encoding="utf-8")
    if done.returncode != 0:
        return Outcome(bench, f"failed (exit {done.returncode}, see {log_path})", seconds)
    return Outcome(bench, "ok", seconds, figures_of(bench, done.stdout, json_path))


def figures_of(bench: Bench, stdout: str, json_path: Path) -> list[Figure]:
    """Read a benchmark's figures: its JSON file, its printed JSON, or its printed tables."""
    if bench.reads == "scim_load" and json_path.exists():
        return scim_load_figures(bench.name, json.loads(json_path.read_text(encoding="utf-8")))
    if bench.reads == "translator":
        return translator_figures(bench.name, json.loads(stdout), TRANSLATOR_BEFORE)
    return table_figures(bench.name, stdout) + text_figures(bench.name, stdout)


class Progress:
    """Progress lines on stderr: which benchmark, how far, how long."""

    def __init__(self, total: int) -> None:
        self.total, self.index, self.began = total, 0, time.perf_counter()

    def start(self, name: str, cmd: list[str], log_path: Path) -> None:
        """Say a benchmark starts."""
        shown = " ".join(Path(c).name if c == sys.executable else c for c in cmd[1:])
        self.line(f"{name}: running `{shown}` (log {log_path})")

    def line(self, text: str) -> None:
        """Print one progress line with the elapsed time."""
        elapsed = time.perf_counter() - self.began
        print(f"[{elapsed:7.0f}s {self.index}/{self.total}] {text}", file=sys.stderr, flush=True)


def machine() -> list[tuple[str, str]]:
    """Describe the machine: CPU model, cores, RAM, load."""
    model, ram = "unknown CPU", "unknown"
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
        model = found.group(1).strip() if found else model
        kib = re.search(r"^MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text(), re.M)
        ram = f"{int(kib.group(1)) / 1024 / 1024:.1f} GiB" if kib else ram
    except OSError:
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "–"
    return [
        ("machine", f"{platform.machine()}, {model}, {os.cpu_count()} cores, {ram} RAM"),
        ("load average at the end (1, 5, 15 min)", load),
    ]


def revision() -> str:
    """Name the commit measured, and whether the work tree had changes."""
    try:
        done = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return done.stdout.strip()


def write_summary(path: Path, section: str) -> None:
    """Put the summary section first in the file (replacing the previous one), keep the rest."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub("", text)
    first = re.search(r"^## ", text, re.M)
    at = first.start() if first else len(text)
    head = text[:at].rstrip("\n") + "\n\n"
    rest = text[at:]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(head + section + ("\n" + rest if rest else ""), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks, then write the summary; exit 1 if one failed to run."""
    args = parse_args(argv)
    benches = selected(args)
    if args.list:
        for b in benches:
            print(f"{b.name:<20} bench/{b.script}")
        return 0
    say = Progress(len(benches))
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="bench-logs-") as tmp:
        logs = Path(tmp)
        for bench in benches:
            say.index += 1
            outcome = run_one(bench, args, logs, say)
            outcomes.append(outcome)
            say.line(f"{bench.name}: {outcome.status} ({outcome.seconds:.0f} s)")
            if outcome.status.startswith("failed"):
                # The log goes with the temporary directory: show its end now.
                tail = (logs / f"{bench.name}.log").read_text(errors="replace")[-2000:]
                print(tail, file=sys.stderr)
    size = "quick (smoke sizes: the figures prove the benchmarks run, not the targets)"
    meta = [
        ("date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        *machine(),
        ("commit", revision()),
        ("python", platform.python_version()),
        ("size", size if args.quick else "full"),
        ("command", "`python bench/run_all.py " + " ".join(argv or sys.argv[1:]) + "`"),
    ]
    notes = [f"- {o.bench.name}: {o.status}, {o.seconds:.0f} s." for o in outcomes]
    figures = [f for o in outcomes for f in o.figures]
    write_summary(args.output, summary_section(HEADING, meta, figures, notes))
    say.line(f"wrote {HEADING!r} in {args.output}")
    return 1 if any(o.status.startswith(("failed", "timed")) for o in outcomes) else 0


if __name__ == "__main__":
    raise SystemExit(main())
