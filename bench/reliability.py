"""The reliability run with a printed summary (issue 14, acceptance 2).

Sustained load from several IdP clients through two API processes for --seconds (300 for the
acceptance run), DingTalk failing 20% of calls (5xx, "system busy", timeouts, timeouts after
the write was applied) and throttling, the worker and the API processes SIGKILLed and
restarted at seeded random moments, and PostgreSQL (a throwaway cluster made with initdb on a
free port, never a shared one) crashed and restarted halfway. Prints what happened and the
differences between DingTalk and what the clients were told, which must be 0.

The scenario is tests/e2e/reliability_run.py (the same code tests/e2e/test_reliability.py runs
for a shorter time). Needs PostgreSQL's server binaries (initdb, pg_ctl).

    .venv/bin/python bench/reliability.py --seconds 300 --seed 1
    .venv/bin/python bench/reliability.py --seconds 20           # a quick run
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

E2E = Path(__file__).resolve().parent.parent / "tests" / "e2e"


def main() -> int:
    """Run once and print the summary; exit 1 unless DingTalk came out exact."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="seconds of load")
    parser.add_argument("--seed", type=int, default=1, help="chooses the writes and the kills")
    parser.add_argument("--clients", type=int, default=3, help="IdP clients writing at once")
    parser.add_argument(
        "--sqlite", action="store_true", help="share a SQLite file (no database crash)"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(E2E))  # the scenario lives beside the e2e tests that run it
    from reliability_run import run

    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="scim-bridge-reliability-"))
    try:
        summary = run(
            workdir,
            seconds=args.seconds,
            seed=args.seed,
            clients=args.clients,
            sqlite=args.sqlite,
            say=lambda line: print(f"[{time.monotonic() - started:6.1f} s] {line}", flush=True),
        )
    except TimeoutError as exc:  # one line, and the logs to find out why
        print(f"result: NOT CONVERGED: {exc}; logs kept in {workdir}")
        return 1
    if summary.clean:
        shutil.rmtree(workdir, ignore_errors=True)
    else:  # the processes' logs, to find out why
        print(f"logs kept in {workdir}; evidence: {summary.evidence or 'none'}")
    print(f"reliability run, {time.monotonic() - started:.0f} s in all:")
    print("\n".join(summary.lines()))
    for line in summary.differences + summary.unreflected + summary.duplicates:
        print(f"  difference: {line}")
    verdict = "differences = 0" if summary.clean else "DIFFERENCES FOUND"
    print(f"result: {verdict}; audit verify: {summary.audit_verify}")
    return 0 if summary.clean and not summary.audit_verify.startswith("FAILED") else 1


if __name__ == "__main__":
    sys.exit(main())
