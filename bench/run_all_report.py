"""What `bench/run_all.py` makes of each benchmark's output, and the Markdown it writes.

Every benchmark prints numbers its own way. A figure is read from a benchmark's ``--json``
file when it has one (translator_cpu, scim_load); otherwise from the Markdown tables it prints,
whose rows carry a target cell (``<= 300 ms``, ``< 30 s``, ``≥ 1.5x``): the value is compared
with the target, and the row says pass or fail. Rows without a target are shown as measured.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

#: A target cell: a comparison and a number ("<= 300 ms", "≥ 1.5x", "< 50 ms").
_TARGET = re.compile(r"(<=|>=|≤|≥|<|>)\s*([\d][\d,]*(?:\.\d+)?)")
_NUMBER = re.compile(r"-?[\d][\d,]*(?:\.\d+)?")


@dataclass(frozen=True)
class Figure:
    """One measured figure beside its reference and target."""

    bench: str
    measure: str
    value: str
    reference: str = ""
    target: str = ""
    passed: bool | None = None  # None: no target to judge by

    def status(self) -> str:
        """Return the pass/fail cell."""
        return {True: "pass", False: "**FAIL**", None: "–"}[self.passed]


def judge(value: str, target: str) -> bool | None:
    """Compare the first number of ``value`` with a target cell; None when either is absent."""
    wanted = _TARGET.search(target)
    found = _NUMBER.search(value)
    if wanted is None or found is None:
        return None
    have = float(found.group(0).replace(",", ""))
    limit = float(wanted.group(2).replace(",", ""))
    op = wanted.group(1)
    if op in ("<=", "≤"):
        return have <= limit
    if op in (">=", "≥"):
        return have >= limit
    return have < limit if op == "<" else have > limit


def table_figures(bench: str, output: str) -> list[Figure]:
    """Read the figures of the Markdown tables a benchmark printed (header row skipped)."""
    out: list[Figure] = []
    header: list[str] = []
    for raw in output.splitlines():
        line = raw.strip()
        if not (line.startswith("|") and line.endswith("|")):
            header = []
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if all(set(c) <= set("-: ") for c in cells):
            continue  # the separator row
        if not header:
            header = [c.lower() for c in cells]
            continue
        target = _cell(header, cells, "target")
        value = cells[1] if len(cells) > 1 else ""
        measure = cells[0]
        if "ours ops/s" in header:  # a reference-beside-ours table
            ratio = _cell(header, cells, "ratio")
            reference = _cell(header, cells, "reference ops/s")
            out.append(
                Figure(
                    bench,
                    measure,
                    f"{value} ops/s ({ratio})",
                    reference,
                    target,
                    judge(ratio, target),
                )
            )
            continue
        out.append(Figure(bench, measure, value, "", target, judge(value, target)))
    return out


#: A printed line with a target: "quality_report   6.49  target < 20 s",
#: "GET /metrics: median 22.9 ms, p95 97.7 ms (target < 50 ms)".
_TEXT_TARGET = re.compile(
    r"^(?P<measure>[^\d|]*?)[\s:]*(?P<value>-?\d[\d,]*(?:\.\d+)?\s*\S*)"
    r".*?\btarget\b\s*(?P<target>(?:<=|>=|≤|≥|<|>)\s*[\d.,]+\s*\S*)"
)


def text_figures(bench: str, output: str) -> list[Figure]:
    """Read the printed lines that name a target (outside Markdown tables)."""
    out = []
    for raw in output.splitlines():
        line = raw.strip()
        found = _TEXT_TARGET.match(line) if not line.startswith("|") else None
        if found:
            value = found.group("value").strip().rstrip(",;")
            target = found.group("target").rstrip(")")
            measure = found.group("measure").strip() or line[:60]
            out.append(Figure(bench, measure, value, "", target, judge(value, target)))
    return out


def _cell(header: list[str], cells: list[str], name: str) -> str:
    for index, title in enumerate(header):
        if title.startswith(name) and index < len(cells):
            return cells[index]
    return ""


def scim_load_figures(bench: str, doc: dict[str, Any]) -> list[Figure]:
    """Turn scim_load.py's --json file into figures: ours beside the reference, per operation."""
    store = "PostgreSQL" if doc["backend"] == "postgresql" else "SQLite"
    mode = "translator on" if doc["translator"] else "API only"
    # Issue 14: writes 1.5x and reads 2x on SQLite; 1x and 1.5x on PostgreSQL.
    targets = {"read": 1.5, "write": 1.0} if store == "PostgreSQL" else {"read": 2.0, "write": 1.5}
    out = []
    for row in doc["rows"]:
        target = targets[row["kind"]]
        ratio = row["ratio"]
        value = "–" if row["ours"] is None else f"{row['ours']:,.1f} ops/s"
        if ratio is not None:
            value += f" ({ratio:.2f}x"
            value += (
                f", rounds {', '.join(f'{r:.2f}' for r in row['rounds'])})"
                if len(row["rounds"]) > 1
                else ")"
            )
        reference = "–" if row["reference"] is None else f"{row['reference']:,.1f} ops/s"
        passed = None if ratio is None else ratio >= target
        measure = f"{row['label']} ({store}, {doc['users']:,} users, {mode})"
        out.append(Figure(bench, measure, value, reference, f"≥ {target}x", passed))
    return out


def translator_figures(bench: str, doc: dict[str, Any], before: dict[str, str]) -> list[Figure]:
    """Turn translator_cpu.py's --json into figures, beside the recorded "before" numbers."""
    out = []
    for key, label in (("create_ms_cpu", "onboarding"), ("update_ms_cpu", "title update")):
        measure = f"translator CPU per change, {label} ({doc['backend']}, {doc['people']:,} people)"
        was = before.get(key, "")
        value = f"{doc[key]:.2f} ms"
        number = _NUMBER.search(was)
        passed = judge(value, f"< {number.group(0)}") if number else None
        out.append(Figure(bench, measure, value, was, "lower than before", passed))
    return out


def summary_section(
    heading: str, meta: list[tuple[str, str]], figures: list[Figure], notes: list[str]
) -> str:
    """Return the Markdown section: who/where/when, then every figure with its verdict."""
    lines = [heading, "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in meta]
    lines += [
        "",
        "| benchmark | measure | value | reference | target | pass/fail |",
        "|---|---|---|---|---|:-:|",
    ]
    for f in figures:
        lines.append(
            f"| {f.bench} | {_md(f.measure)} | {_md(f.value)} | {_md(f.reference)} | "
            f"{_md(f.target)} | {f.status()} |"
        )
    if notes:
        lines += ["", *notes]
    return "\n".join(lines).rstrip() + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|")
