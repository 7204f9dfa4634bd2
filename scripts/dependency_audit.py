"""`make audit`: known vulnerabilities in the installed dependencies (pip-audit, issue 14).

pip-audit needs vulnerability data from the network: OSV (api.osv.dev) or PyPI's JSON API.
This first probes each (a few seconds at most), then runs pip-audit against the first that
answers, and reads its JSON report:

- a vulnerability in any installed distribution fails the check, naming it and its fix;
- no service reachable, or a service that knows none of our distributions (a mirror without
  the JSON API answers 404 for every one, and pip-audit then reports "No known
  vulnerabilities found" having audited nothing): the check says BLOCKED and which service
  answered what, and passes, unless ``--strict`` (CI with network access) makes it fail. A
  check that could not run is reported as such: never a false green, never a red offline
  build.

    .venv/bin/python scripts/dependency_audit.py [--strict]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

import requests

PROBE_SECONDS = 4.0
#: How each service is asked about one well-known distribution: (pip-audit name, probe).
SERVICES = (
    ("osv", "https://api.osv.dev/v1/query"),
    # The per-release JSON pip-audit reads (the project JSON alone may be mirrored).
    ("pypi", "https://pypi.org/pypi/pip/20.0/json"),
)


def probe(service: str, url: str) -> str | None:
    """Return None if the service answers a vulnerability query, else what went wrong."""
    try:
        if service == "osv":
            body = {"package": {"name": "pip", "ecosystem": "PyPI"}, "version": "20.0"}
            response = requests.post(url, json=body, timeout=PROBE_SECONDS)
        else:
            response = requests.get(url, timeout=PROBE_SECONDS)
    except requests.RequestException as exc:
        return f"{type(exc).__name__} ({str(exc)[:120]})"
    if response.status_code != 200:
        return f"HTTP {response.status_code} for {url}"
    try:
        response.json()
    except ValueError:
        return f"not JSON from {url}"
    return None


def audit(service: str) -> dict[str, Any]:
    """Run pip-audit on this interpreter's environment against one service; its JSON."""
    done = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [
            sys.executable,
            "-m",
            "pip_audit",
            "--vulnerability-service",
            service,
            "--format",
            "json",
            "--skip-editable",  # scim-bridge itself: not on PyPI
            "--progress-spinner",
            "off",
            "--timeout",
            "10",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    try:
        report: dict[str, Any] = json.loads(done.stdout)
    except ValueError:
        failure = done.stderr.strip()[-400:]
        raise SystemExit(f"pip-audit failed ({done.returncode}): {failure}") from None
    return report


def fixes(vuln: dict[str, Any]) -> str:
    """Return the releases that fix a vulnerability, in words."""
    return ", ".join(vuln.get("fix_versions") or []) or "no release yet"


def verdict(service: str, report: dict[str, Any]) -> tuple[bool | None, list[str]]:
    """Return (True: clean, False: vulnerable, None: nothing could be audited) and lines."""
    dependencies = report.get("dependencies", [])
    audited = [d for d in dependencies if "skip_reason" not in d]
    found = [
        f"{d['name']} {d['version']}: {v['id']} (fixed in {fixes(v)})"
        for d in audited
        for v in d.get("vulns", [])
    ]
    if found:
        return False, found
    if not audited:
        reasons = {d.get("skip_reason", "") for d in dependencies}
        return None, [f"{service}: none of {len(dependencies)} distributions could be audited"] + [
            f"  e.g. {r}" for r in sorted(reasons)[:2]
        ]
    return True, [f"{service}: {len(audited)} distributions audited, no known vulnerabilities"]


def main(argv: list[str] | None = None) -> int:
    """Audit, or say why it could not."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strict", action="store_true", help="fail when no audit could run")
    args = parser.parse_args(argv)
    seen: list[str] = []
    for service, url in SERVICES:
        problem = probe(service, url)
        if problem is not None:
            seen.append(f"{service}: unreachable: {problem}")
            continue
        clean, lines = verdict(service, audit(service))
        if clean is None:
            seen.extend(lines)
            continue
        print("pip-audit: " + "\n  ".join(lines))
        return 0 if clean else 1
    print("pip-audit: BLOCKED: no vulnerability data reachable from this machine")
    for line in seen:
        print(f"  {line}")
    return 1 if args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
