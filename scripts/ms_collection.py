# ruff: noqa: S603  (runs our own server and the newman the caller names)
"""Run Microsoft's SCIM Postman collection with newman against a fresh server; summarise.

    python3 scripts/ms_collection.py PATH/TO/PostmanCollection.json --newman PATH/TO/newman
    python3 scripts/ms_collection.py ... --profile auto    # the token quickstart prints
    python3 scripts/ms_collection.py ... --json report.json --keep

The collection is Microsoft's (AzureAD/SCIMReferenceCode, ``PostmanCollection.json``) and
is never committed here: fetch it, and install newman outside the repository
(``npm install newman@6``). docs/conformance.md, "Microsoft's collection", has the results.

What it does:

1. Copies the collection into a temporary work directory without its "Get Token" request
   (the reference server's own token endpoint; ours are made with `scim-bridge token create`).
2. Starts the server exactly as `make run` does (`scim-bridge quickstart`, temporary SQLite
   database, a free port on 127.0.0.1) and creates a token of the asked profile (default
   ``entra``); ``--profile auto`` uses the token quickstart printed.
3. Writes the collection's variables (Protocol, Server, Port, Api, token) into a Postman
   environment file readable only by you, and runs
   ``newman run COPY --environment ENV --reporters cli,json --reporter-json-export FILE``.
4. Prints requests, assertions passed / failed, and each failure, matched against the ones
   docs/conformance.md explains (KNOWN below); then stops the server (its process group).

It exits 1 when a failure is not explained, a request got no answer, or the server logged an
unhandled error (HTTP 500).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance import ROOT, Server, log

#: Failures docs/conformance.md explains: (id, profiles, request, assertion, message regex).
ALL = frozenset({"entra", "entra-additive", "okta", "strict", "auto"})
RFC_PATCH = frozenset({"okta", "strict", "auto"})  # User PATCH answers 200 with the resource
REFUSING = frozenset({"strict", "auto"})  # member ids naming nothing are 400 invalidValue
KNOWN: list[tuple[str, frozenset[str], str, str, str]] = [
    # The collection wants an undefined member key ("displayName") echoed back.
    ("M1", ALL, "Get group by id", "Body contians user", r"to include"),
    # RFC 7644 §3.5.2 allows 200 with the resource or 204; only Entra's profiles answer 204.
    ("M2", RFC_PATCH, "Patch user omalley new username", "Status code is 204", r"got 200"),
    ("M2", RFC_PATCH, "patch user omalley active with boolean", "Status code is 204", r"got 200"),
    ("M3", REFUSING, "Group patch add member", "Status code is 204", r"got 400"),
    ("M3", REFUSING, "Group patch add member2", "Status code is 204", r"got 400"),
    # strict reads filters by RFC 7644 §3.4.2.2's grammar: an unquoted word is no compValue.
    ("M4", frozenset({"strict"}), "filter eq and (val or val)", "Total results", ""),
    ("M4", frozenset({"strict"}), "filter starts with", "Total results", ""),
    ("M4", frozenset({"strict"}), "filter greater than", "Total results", ""),
]


@dataclass
class Failure:
    """One failed assertion of the run."""

    folder: str
    request: str
    assertion: str
    message: str
    known: str = ""


def without_get_token(collection: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Return the collection without its "Get Token" items, and how many were dropped."""
    dropped = 0

    def keep(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        nonlocal dropped
        kept = []
        for item in items:
            if item.get("name") == "Get Token":
                dropped += 1
                continue
            kept.append({**item, "item": keep(item["item"])} if "item" in item else item)
        return kept

    return {**collection, "item": keep(collection.get("item", []))}, dropped


def profile_token(scim_bridge: Path, server: Server, profile: str) -> str:
    """Create a token of ``profile`` in the server's database; return it."""
    env = {**os.environ, "SCIM_BRIDGE_DATABASE_URL": server.database_url}
    env.pop("SCIM_BRIDGE_CONFIG", None)
    done = subprocess.run(
        [str(scim_bridge), "token", "create", f"ms-collection-{profile}", "--profile", profile],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def environment_file(path: Path, server: Server, token: str) -> None:
    """Write the collection's variables as a Postman environment, mode 0600 (a token)."""
    values = {
        "Protocol": "http",
        "Server": "127.0.0.1",
        "Port": f":{server.port}",
        "Api": "scim/v2",
        "token": token,
    }
    doc = {
        "name": "scim-bridge",
        "values": [{"key": k, "value": v, "enabled": True} for k, v in values.items()],
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(doc, out)


def failures_of(report: dict[str, Any], profile: str) -> list[Failure]:
    """Read the failed assertions from newman's JSON report and match them against KNOWN."""
    found = []
    for f in report["run"].get("failures", []):
        error = f.get("error", {})
        failure = Failure(
            folder=f.get("parent", {}).get("name", ""),
            request=f.get("source", {}).get("name", ""),
            assertion=error.get("test", error.get("name", "")),
            message=error.get("message", ""),
        )
        for known_id, profiles, request, assertion, pattern in KNOWN:
            if (
                profile in profiles
                and failure.request == request
                and failure.assertion == assertion
                and re.search(pattern, failure.message)
            ):
                failure.known = known_id
                break
        found.append(failure)
    return found


def summarise(report: dict[str, Any], failures: list[Failure], server_errors: int) -> int:
    """Print the counts and the failures; return how many things are wrong."""
    stats = report["run"]["stats"]
    asserted = stats["assertions"]["total"]
    failed = stats["assertions"]["failed"]
    unanswered = stats["requests"]["failed"]
    print(f"requests: {stats['requests']['total']} ({unanswered} without an answer)")
    print(f"assertions: {asserted}, passed {asserted - failed}, failed {failed}")
    for f in failures:
        tag = f"[{f.known}, docs/conformance.md]" if f.known else "[UNEXPLAINED]"
        print(f"  {tag} {f.folder} / {f.request}: {f.assertion}")
        print(f"      {f.message}")
    print(f"server: {server_errors} unhandled error(s) (HTTP 500) in its log")
    return sum(1 for f in failures if not f.known) + unanswered + server_errors


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("collection", type=Path, help="Microsoft's PostmanCollection.json")
    parser.add_argument(
        "--newman", default=shutil.which("newman"), help="the newman command (default: PATH)"
    )
    parser.add_argument(
        "--scim-bridge",
        type=Path,
        default=ROOT / ".venv" / "bin" / "scim-bridge",
        help="the scim-bridge command (default: the project's .venv)",
    )
    parser.add_argument(
        "--profile",
        default="entra",
        choices=["entra", "entra-additive", "okta", "strict", "auto"],
        help="the token's profile (auto: the token quickstart prints)",
    )
    parser.add_argument("--json", type=Path, help="copy newman's JSON report here")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if not args.newman:
        log("ms_collection: newman not found; `npm install newman@6` and pass --newman PATH")
        return 2
    try:
        collection, dropped = without_get_token(json.loads(args.collection.read_text()))
    except (OSError, ValueError) as exc:
        log(f"ms_collection: cannot read the collection {args.collection}: {exc}")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="scim-bridge-ms-collection-"))
    copy, env_file, report_file = (
        workdir / "collection.json",
        workdir / "environment.json",
        workdir / "newman.json",
    )
    copy.write_text(json.dumps(collection))
    log(f"ms_collection: work directory {workdir}; dropped {dropped} 'Get Token' item(s)")
    server = Server(args.scim_bridge, workdir)
    try:
        token = server.token
        if args.profile != "auto":
            token = profile_token(args.scim_bridge, server, args.profile)
        environment_file(env_file, server, token)
        command = [args.newman, "run", str(copy), "--environment", str(env_file)]
        command += ["--reporters", "cli,json", "--reporter-json-export", str(report_file)]
        command += ["--color", "off", "--disable-unicode"]
        log("ms_collection: " + " ".join(command))
        with (workdir / "newman.txt").open("w") as out:
            subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
    finally:
        server.stop()
    if not report_file.exists():
        log(f"ms_collection: newman wrote no report; see {workdir / 'newman.txt'}")
        return 1
    report = json.loads(report_file.read_text())
    print(f"Microsoft's SCIM collection, token profile {args.profile}, server {server.url}")
    bad = summarise(report, failures_of(report, args.profile), server.errors_logged())
    if args.json:
        shutil.copyfile(report_file, args.json)
    if bad or args.keep:
        log(f"ms_collection: work directory kept: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
