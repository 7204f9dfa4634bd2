"""`make bench`'s runner writes its summary: machine, commit, figures with pass/fail (issue 14).

One cheap benchmark at smoke size, into a file of the test's own; the rest of that file
(sections other benchmarks write) is kept, and a previous summary is replaced, not doubled.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEADING = "## Summary (`make bench`)"


def test_run_all_quick_rewrites_the_summary_and_keeps_other_sections(tmp_path: Path) -> None:
    output = tmp_path / "benchmarks.md"
    output.write_text(
        "# Benchmarks\n\nIntro.\n\n"
        f"{HEADING}\n\n| stale | summary |\n\n"
        "## Sync lag\n\nkept as it was\n",
        encoding="utf-8",
    )
    cmd = [sys.executable, str(ROOT / "bench" / "run_all.py"), "--quick"]
    cmd += ["--only", "mapping_bench", "--output", str(output)]

    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)

    assert done.returncode == 0, done.stderr[-2000:]
    assert "mapping_bench: ok" in done.stderr  # progress goes to stderr
    text = output.read_text(encoding="utf-8")
    assert text.count(HEADING) == 1
    assert "stale" not in text
    assert text.index(HEADING) < text.index("## Sync lag")
    assert "kept as it was" in text
    for row in ("| machine |", "| commit |", "| date |", "| size | quick"):
        assert row in text
    figures = [line for line in text.splitlines() if line.startswith("| mapping_bench |")]
    assert any("< 30 s" in line and line.endswith("| pass |") for line in figures), figures


def test_run_all_refuses_an_unknown_benchmark_in_one_line(tmp_path: Path) -> None:
    cmd = [sys.executable, str(ROOT / "bench" / "run_all.py"), "--only", "nosuch"]
    cmd += ["--output", str(tmp_path / "b.md")]

    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)

    assert done.returncode == 2
    assert "no benchmark named 'nosuch'" in done.stderr
    assert not (tmp_path / "b.md").exists()
