# ruff: noqa: S603, S108  (runs our own tools; /tmp/toolsvenv is the agreed default)
"""Run the public SCIM conformance tools against the server `make run` starts; summarise.

    python3 scripts/conformance.py                      # scim2-tester, scim2-cli, scim-sanity
    python3 scripts/conformance.py --schemathesis       # ... and schemathesis on openapi.json
    python3 scripts/conformance.py --json report.json   # also write the results as JSON

What it does (docs/conformance.md explains the results):

1. Creates the tools venv if missing (``--tools-venv``, default /tmp/toolsvenv, or
   $SCIM_BRIDGE_TOOLS_VENV) and installs the pinned tools into it from PyPI. The tools never
   go into the project's .venv.
2. Starts the server exactly as `make run` does, `scim-bridge quickstart`, on a temporary
   SQLite database and a free port on 127.0.0.1, and reads the bearer token it prints.
3. Runs scim2-tester (`check_server`, as published and again with its dateTime filler fixed),
   `scim2 test` (scim2-cli) and `scim-sanity probe`, optionally schemathesis.
4. Prints passed / failed / skipped per check and per tool. Every failure is matched against
   the list of known tool defects (KNOWN below, each explained in docs/conformance.md); a
   failure that matches none is UNEXPLAINED and makes the exit status 1.
5. Stops the server.

Only the project's Python (for `scim-bridge`) and the network to PyPI (first run) are needed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = {  # the versions docs/conformance.md reports on
    "scim2-tester": "0.5.2",
    "scim2-cli": "0.6.0",
    "scim-sanity": "0.7.4",
    "schemathesis": "4.32.5",
}
ANSI = re.compile(r"\x1b\[[0-9;]*m")

#: Failures that are the tool's, not ours: (id, tool, check regex, reason regex).
#: docs/conformance.md explains each id with the RFC text.
KNOWN: list[tuple[str, str, str, str]] = [
    # scim2-tester fills dateTime attributes with a UUID; its own model rejects it (no request).
    ("T1", "scim2", r".*", r"valid datetime or date"),
    ("T1", "scim2", r"check_(add|replace)_attribute", r"hiredDate must be an xsd:dateTime"),
    # members.display is filled in by the server from the member's current name.
    (
        "T2",
        "scim2",
        r"check_(add|replace)_attribute",
        r"for 'members'\.\nPatched value: .*display=None.*\nReturned value: .*display='",
    ),
    # An extension's readOnly "sync" is the server's: absent when unassigned, present once the
    # server set it; the tool compares it with the None it sent. (Matched by _only_sync_differs.)
    ("T3", "scim2", r"check_(add|replace)_attribute", r"(?s)^T3$"),
    # Removing an extension removes what a client may write; the readOnly "sync" stays.
    (
        "T5",
        "scim2",
        r"check_remove_attribute",
        r"did not remove attribute 'urn:ietf:params:scim:schemas:extension:dingtalk:2\.0:"
        r"(User|Group)'",
    ),
    # PATCH add on a multi-valued attribute appends (RFC 7644 §3.5.2.1); the tool wants replace.
    (
        "T4",
        "scim2",
        r"check_add_attribute",
        r"for 'urn:ietf:params:scim:schemas:extension:dingtalk:2\.0:User:extension'",
    ),
    # scim-sanity adds the member id "fake-member-id"; we refuse ids that name no resource.
    ("S1", "scim-sanity", r"PATCH /Groups/\{id\} add member", r"Expected 200, got 400"),
    # schemathesis counts every 5xx as a server error; /Me answers 501 as RFC 7644 §3.11 says.
    ("X1", "schemathesis", r"^(GET|POST|PUT|PATCH|DELETE) /Me$", r"\[501\] Not Implemented"),
]

_SYNC = re.compile(r" ?sync=(None|Sync\(.*?\))(?= \w+=|$)", re.MULTILINE)
_SCHEMAS = re.compile(r"schemas=\[[^\]]*\] ?")


def _only_sync_differs(detail: str) -> bool:
    """T3: the patched and returned extension differ only in the server's readOnly sync."""
    m = re.search(r"for 'urn:[^']+'\.\nPatched value: (.*)\nReturned value: (.*)", detail)
    if m is None:
        return False

    def norm(text: str) -> str:
        text = _SCHEMAS.sub("", _SYNC.sub("", text))
        text = text.replace("tzinfo=datetime.timezone.utc", "tzinfo=TzInfo(0)")
        return "" if text.strip() == "None" else text.strip()

    return norm(m.group(1)) == norm(m.group(2))


@dataclass
class Check:
    """One check result from one tool."""

    tool: str
    check: str
    status: str  # passed, failed, skipped
    detail: str = ""
    known: str = ""  # the KNOWN id that explains a failure


def log(msg: str) -> None:
    """Progress on stderr, so stdout stays the summary."""
    print(msg, file=sys.stderr, flush=True)


# --- tools venv ------------------------------------------------------------------------------


def ensure_tools(venv: Path) -> Path:
    """Create the tools venv and install the pinned tools when they are missing."""
    python = venv / "bin" / "python"
    probe = (
        "import importlib.metadata as m, sys, json; "
        "want = json.loads(sys.argv[1]); "
        "sys.exit(any(m.version(n) != v for n, v in want.items()))"
    )
    if python.exists():
        ok = subprocess.run(
            [str(python), "-c", probe, json.dumps(TOOLS)], capture_output=True, check=False
        )
        if ok.returncode == 0:
            return python
    log(f"conformance: installing {', '.join(TOOLS)} into {venv}")
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pins = [f"{name}=={version}" for name, version in TOOLS.items()]
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *pins], check=True)
    return python


# --- the server ------------------------------------------------------------------------------


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`scim-bridge quickstart` (what `make run` runs) on a temporary SQLite database."""

    def __init__(self, scim_bridge: Path, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/scim/v2"
        self.log_path = workdir / "server.log"
        #: Its database, so other commands (`scim-bridge token create`) can reach it.
        self.database_url = f"sqlite:///{workdir / 'conformance.db'}"
        env = {**os.environ, "SCIM_BRIDGE_DATABASE_URL": self.database_url}
        env.pop("SCIM_BRIDGE_CONFIG", None)
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [str(scim_bridge), "quickstart", "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=env,
            cwd=workdir,
            start_new_session=True,  # its own process group: stop() ends gunicorn and workers
        )
        self.token = self._read_token()
        self._wait_ready()

    def _read_token(self) -> str:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self._log.write(line)
            if "Bearer token" in line:
                # Keep draining stdout into the log, or a full pipe would stall the server.
                threading.Thread(target=self._drain, daemon=True).start()
                return line.split(":", 1)[1].strip()
        self.stop()
        raise RuntimeError(f"quickstart printed no token; see {self.log_path}")

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._log.write(line)
        self._log.flush()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.port}/readyz", timeout=2
                ) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the server did not become ready; see {self.log_path}")

    def stop(self) -> None:
        """Stop gunicorn (and its workers and the emulator thread) by its process group."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()

    def errors_logged(self) -> int:
        """Count the unhandled errors (500s) the server logged."""
        return self.log_path.read_text(errors="replace").count("unhandled error")


# --- the tools -------------------------------------------------------------------------------

OK_STATUS = {"SUCCESS", "COMPLIANT", "ACCEPTABLE"}


def run_scim2_tester(python: Path, server: Server, *, fill_datetimes: bool) -> list[Check]:
    """scim2-tester's check_server through scripts/conformance_tester.py."""
    tool = "scim2-tester" + (" (dateTime filler fixed)" if fill_datetimes else "")
    cmd = [str(python), str(ROOT / "scripts" / "conformance_tester.py"), server.url, server.token]
    if fill_datetimes:
        cmd.append("--fill-datetimes")
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        return [Check(tool, "check_server", "failed", done.stderr.strip()[-2000:])]
    checks = []
    for r in json.loads(done.stdout):
        name = f"{r['check']} [{r['resource_type']}]" if r["resource_type"] else r["check"]
        status = (
            "passed"
            if r["status"] in OK_STATUS
            else "skipped"
            if r["status"] == "SKIPPED"
            else "failed"
        )
        detail = r["reason"] if status != "passed" else ""
        checks.append(Check(tool, name, status, detail))
    return checks


def run_scim2_cli(venv: Path, server: Server) -> list[Check]:
    """`scim2 --url URL test` (scim2-cli), the token passed through SCIM_CLI_HEADERS."""
    env = {**os.environ, "SCIM_CLI_HEADERS": f"Authorization: Bearer {server.token}"}
    done = subprocess.run(
        [str(venv / "bin" / "scim2"), "--url", server.url, "test"],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        check=False,
    )
    checks: list[Check] = []
    for raw in ANSI.sub("", done.stdout).splitlines():
        head, _, rest = raw.partition(" ")
        if head in {"SUCCESS", "COMPLIANT", "ACCEPTABLE", "DEVIATION", "ERROR", "CRITICAL"}:
            ok = head in OK_STATUS
            checks.append(Check("scim2-cli", rest.strip(), "passed" if ok else "failed"))
        elif head == "SKIPPED":
            checks.append(Check("scim2-cli", rest.strip(), "skipped"))
        elif checks and checks[-1].status != "passed":  # the reason, over several lines
            checks[-1].detail = (checks[-1].detail + "\n" + raw.strip()).strip()
    if not checks:
        checks.append(Check("scim2-cli", "test", "failed", (done.stdout + done.stderr)[-2000:]))
    return checks


def run_scim_sanity(venv: Path, server: Server) -> list[Check]:
    """`scim-sanity probe URL --json-output` in strict mode."""
    done = subprocess.run(
        [
            str(venv / "bin" / "scim-sanity"),
            "probe",
            server.url,
            "--token",
            server.token,
            "--i-accept-side-effects",
            "--json-output",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    try:
        report = json.loads(done.stdout)
    except ValueError:
        return [Check("scim-sanity", "probe", "failed", (done.stdout + done.stderr)[-2000:])]
    status_map = {"pass": "passed", "skip": "skipped", "warn": "passed"}
    return [
        Check(
            "scim-sanity",
            r["name"],
            status_map.get(r["status"], "failed"),
            r.get("message", "") if r["status"] != "pass" else "",
        )
        for r in report["results"]
    ]


def run_schemathesis(venv: Path, server: Server, workdir: Path, max_examples: int) -> list[Check]:
    """schemathesis on the published /scim/v2/openapi.json: no 5xx, responses match schemas."""
    report = workdir / "schemathesis"
    done = subprocess.run(
        [
            str(venv / "bin" / "schemathesis"),
            "run",
            f"{server.url}/openapi.json",
            "--header",
            f"Authorization: Bearer {server.token}",
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,"
            "response_schema_conformance",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            str(max_examples),
            "--workers",
            "1",
            "--report",
            "junit",
            "--report-dir",
            str(report),
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
        cwd=workdir,  # it keeps a .schemathesis/ cache in its working directory
    )
    (workdir / "schemathesis.txt").write_text(done.stdout + done.stderr)
    checks: list[Check] = []
    junit = next(report.glob("*.xml"), None)
    if junit is not None:
        import xml.etree.ElementTree as ET

        for case in ET.parse(junit).getroot().iter("testcase"):  # noqa: S314 - our own file
            failure = case.find("failure")
            error = case.find("error")
            skipped = case.find("skipped")
            bad = failure if failure is not None else error
            status = "failed" if bad is not None else "skipped" if skipped is not None else "passed"
            detail = f"{bad.get('message') or ''}\n{bad.text or ''}" if bad is not None else ""
            checks.append(Check("schemathesis", case.get("name", "?"), status, detail[:2000]))
    if not checks:
        tail = (done.stdout + done.stderr)[-2000:]
        checks.append(Check("schemathesis", "run", "failed" if done.returncode else "passed", tail))
    return checks


# --- summary ---------------------------------------------------------------------------------


def classify(checks: list[Check]) -> None:
    """Mark each failure that a KNOWN tool defect explains."""
    for c in checks:
        if c.status != "failed":
            continue
        family = "scim2" if c.tool.startswith(("scim2-tester", "scim2-cli")) else c.tool
        for known_id, tool, check_re, reason_re in KNOWN:
            detail = "T3" if known_id == "T3" and _only_sync_differs(c.detail) else c.detail
            if tool == family and re.search(check_re, c.check) and re.search(reason_re, detail):
                c.known = known_id
                break


def summarise(checks: list[Check], server_errors: int) -> tuple[str, int]:
    """Return the printed summary and the number of unexplained failures."""
    lines: list[str] = []
    tools = list(dict.fromkeys(c.tool for c in checks))
    lines.append(f"{'tool':<42} {'passed':>6} {'failed':>6} {'ours?':>6} {'skipped':>7}")
    for tool in tools:
        mine = [c for c in checks if c.tool == tool]
        n = Counter(c.status for c in mine)
        unexplained = sum(1 for c in mine if c.status == "failed" and not c.known)
        lines.append(
            f"{tool:<42} {n['passed']:>6} {n['failed']:>6} {unexplained:>6} {n['skipped']:>7}"
        )
    lines.append("")
    lines.append("Per check (passed / failed / skipped; a failure names the KNOWN tool defect):")
    for tool in tools:
        lines.append(f"  {tool}")
        per: dict[str, Counter[str]] = {}
        for c in checks:
            if c.tool == tool:
                per.setdefault(c.check, Counter())[c.status] += 1
        for name, n in per.items():
            known = sorted({c.known for c in checks if c.tool == tool and c.check == name} - {""})
            note = f"  tool defect {','.join(known)}" if known else ""
            lines.append(
                f"    {n['passed']:>3} / {n['failed']:>3} / {n['skipped']:>3}  {name}{note}"
            )
    unexplained_checks = [c for c in checks if c.status == "failed" and not c.known]
    skipped = [c for c in checks if c.status == "skipped"]
    if skipped:
        lines.append("")
        lines.append("Skipped:")
        lines.extend(f"  {c.tool}: {c.check} -- {c.detail}" for c in skipped)
    if unexplained_checks:
        lines.append("")
        lines.append("UNEXPLAINED failures (possibly ours):")
        for c in unexplained_checks:
            detail = c.detail.replace("\n", "\n      ")
            lines.append(f"  {c.tool}: {c.check}\n      {detail}")
    lines.append("")
    lines.append(f"server: {server_errors} unhandled error(s) (HTTP 500) in its log")
    return "\n".join(lines), len(unexplained_checks) + server_errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tools-venv",
        type=Path,
        default=Path(os.environ.get("SCIM_BRIDGE_TOOLS_VENV", "/tmp/toolsvenv")),
    )
    parser.add_argument(
        "--scim-bridge",
        type=Path,
        default=ROOT / ".venv" / "bin" / "scim-bridge",
        help="the scim-bridge command (default: the project's .venv)",
    )
    parser.add_argument("--schemathesis", action="store_true", help="also run schemathesis")
    parser.add_argument("--max-examples", type=int, default=30, help="schemathesis examples")
    parser.add_argument("--json", type=Path, help="write every check result here")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()

    python = ensure_tools(args.tools_venv)
    workdir = Path(tempfile.mkdtemp(prefix="scim-bridge-conformance-"))
    log(f"conformance: work directory {workdir}")
    server = Server(args.scim_bridge, workdir)
    log(f"conformance: server {server.url}")
    checks: list[Check] = []
    try:
        for name, run in (
            ("scim2-tester", lambda: run_scim2_tester(python, server, fill_datetimes=False)),
            (
                "scim2-tester (dateTime filler fixed)",
                lambda: run_scim2_tester(python, server, fill_datetimes=True),
            ),
            ("scim2-cli", lambda: run_scim2_cli(args.tools_venv, server)),
            ("scim-sanity", lambda: run_scim_sanity(args.tools_venv, server)),
        ):
            log(f"conformance: running {name}")
            checks.extend(run())
        if args.schemathesis:
            log("conformance: running schemathesis")
            checks.extend(run_schemathesis(args.tools_venv, server, workdir, args.max_examples))
    finally:
        server.stop()
    classify(checks)
    summary, bad = summarise(checks, server.errors_logged())
    print(summary)
    if args.json:
        args.json.write_text(json.dumps([asdict(c) for c in checks], indent=1))
    if bad:
        log(f"conformance: {bad} unexplained failure(s); server log {server.log_path}")
    elif not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
