"""Bulk bulkId references and page-hint memory, this checkout against the code before issue 9.

Two measures, each run in a fresh interpreter, first on a baseline commit (default 7d0ff1e,
before issue 9: extracted with ``git archive`` into a temporary directory and put first on
``PYTHONPATH``), then on this checkout:

- one ``POST /Bulk`` of ``--ops`` (1,000) chained operations through the Flask app on a fresh
  SQLite file: each a ``POST /Users`` whose manager is another operation's bulkId. Written
  *forwards* (each references the one before it) and *backwards* (each references the one
  after it, so every operation waits for the next: the case the old resolver re-scanned for);
- the memory the page hints hold after ``--filters`` (1,000) list requests, each with a
  distinct filter of ``--filter-chars`` (8,192) characters: tracemalloc's count of what
  ``hints.clear()`` frees.

Prints the numbers and writes the section "## Bulk references and page hints" of
docs/benchmarks.md. Asserts nothing about timings.

    .venv/bin/python bench/bulk_refs.py
    .venv/bin/python bench/bulk_refs.py --ops 400 --no-baseline --no-docs
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import tracemalloc
from datetime import UTC, date, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Bulk references and page hints"
BULK_URN = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def chain(ops: int, *, backwards: bool, prefix: str) -> dict[str, Any]:
    """A BulkRequest of ``ops`` user POSTs, each managed by its neighbour's bulkId."""
    operations = []
    for i in range(ops):
        data: dict[str, Any] = {"userName": f"{prefix}{i:05d}@example.com"}
        boss = i + 1 if backwards else i - 1
        if 0 <= boss < ops:
            data[ENTERPRISE] = {"manager": {"value": f"bulkId:{prefix}{boss}"}}
        operations.append(
            {"method": "POST", "path": "/Users", "bulkId": f"{prefix}{i}", "data": data}
        )
    return {"schemas": [BULK_URN], "Operations": operations}


def measure(ops: int, filters: int, filter_chars: int) -> dict[str, Any]:
    """Run both measures on whichever scim_bridge is first on sys.path."""
    import scim_bridge
    from scim_bridge.app import create_app
    from scim_bridge.directory.db import Database, upgrade
    from scim_bridge.directory.tokens import create_token
    from scim_bridge.settings import Settings

    out: dict[str, Any] = {"code": str(Path(scim_bridge.__file__).parents[1])}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        db = Database(url)
        app = create_app(Settings(database_url=url), db=db)
        with db.write() as session:
            _row, token = create_token(session, "bench", now=datetime.now(UTC))
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
        for name, backwards in (("forwards", False), ("backwards", True)):
            body = chain(ops, backwards=backwards, prefix=name[0])
            started = time.perf_counter()
            response = client.post("/scim/v2/Bulk", data=json.dumps(body), headers=headers)
            out[f"bulk_{name}_s"] = time.perf_counter() - started
            statuses = [r["status"] for r in response.get_json()["Operations"]]
            out[f"bulk_{name}_created"] = statuses.count("201")
        out["hints_bytes"], out["hints_entries"] = hint_memory(app, headers, filters, filter_chars)
        db.dispose()
    return out


def hint_memory(app: Any, headers: dict[str, str], filters: int, chars: int) -> tuple[int, int]:
    """List with ``filters`` distinct filters; return the bytes and entries the hints hold."""
    client = app.test_client()
    hints = app.extensions["scim_bridge"].hints
    hints.clear()
    gc.collect()
    tracemalloc.start()
    try:
        for i in range(filters):
            head = f'userName pr or title eq "{i:06d}'
            text = head + "x" * (chars - len(head) - 1) + '"'
            response = client.get(
                "/scim/v2/Users", query_string={"filter": text, "count": 1}, headers=headers
            )
            assert response.status_code == 200, response.get_data(as_text=True)[:200]
        entries = len(hints._items)  # private, but the same attribute in both versions
        gc.collect()
        held = tracemalloc.get_traced_memory()[0]
        hints.clear()
        gc.collect()
        freed = held - tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return freed, entries


def run(code: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Run the measures in a fresh interpreter with ``code`` first on the import path."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    command = [sys.executable, __file__, "--measure", "--ops", str(args.ops)]
    command += ["--filters", str(args.filters), "--filter-chars", str(args.filter_chars)]
    done = subprocess.run(command, env=env, cwd=code, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the measure failed on {code}:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def baseline_tree(commit: str, into: Path) -> Path:
    """Extract the scim_bridge package of ``commit`` into ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit, "scim_bridge"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def table(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> list[str]:
    """The Markdown table of every measure for each code version."""
    names = list(results)
    lines = ["| measure | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]

    def row(label: str, cell: Any) -> None:
        lines.append(f"| {label} | " + " | ".join(cell(results[n]) for n in names) + " |")

    for way in ("forwards", "backwards"):
        row(
            f"POST /Bulk, {args.ops:,} chained user POSTs, {way}",
            lambda r, w=way: f"{r[f'bulk_{w}_s']:.2f} s ({r[f'bulk_{w}_created']:,} created)",
        )
    row(
        f"page hints after {args.filters:,} distinct {args.filter_chars:,}-character filters",
        lambda r: f"{r['hints_bytes'] / 1024:,.0f} KiB in {r['hints_entries']:,} hints",
    )
    return lines


def main() -> None:
    """Measure the baseline and this checkout; print and record the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", type=int, default=1000)
    parser.add_argument("--filters", type=int, default=1000)
    parser.add_argument("--filter-chars", type=int, default=8192)
    parser.add_argument("--baseline", default="7d0ff1e", help="commit to compare with")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.ops, args.filters, args.filter_chars)))
        return
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_baseline:
            code = baseline_tree(args.baseline, Path(tmp))
            results[f"before ({args.baseline})"] = run(code, args)
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        results[f"after ({head or 'this checkout'})"] = run(ROOT, args)
    lines = table(results, args)
    print("\n".join(lines))
    if args.no_docs:
        return
    from report import machine_line, replace_section

    machine = machine_line()
    section = [
        SECTION,
        "",
        f"{date.today().isoformat()}, {machine}. `python bench/bulk_refs.py "
        f"{' '.join(sys.argv[1:])}`. Each column is a fresh interpreter on a fresh SQLite file, "
        "through the Flask app in-process. Bulk: one request, each operation a user POST whose "
        "manager is the bulkId of the operation before it (forwards) or after it (backwards: "
        "every operation waits for the next). Page hints: tracemalloc's count of what clearing "
        "the hints frees after the list requests (`count=1`, so each leaves a hint).",
        "",
        *lines,
        "",
    ]
    replace_section(SECTION, "\n".join(section))


if __name__ == "__main__":
    main()
