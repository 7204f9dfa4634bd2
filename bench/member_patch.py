"""Group member PATCH latency as the group grows (issue 14), on SQLite and PostgreSQL.

A member PATCH must cost what it changes: adding one member to a group of 3,000 should take
as long as adding one to a group of 10. For each group size this creates the group (service
layer, no HTTP), then times PATCH /Groups/{id} through the Flask app in-process (routing,
auth, the service and the response; no socket), alternating "add one member" and "remove
it", under each profile's answer:

- ``okta`` (204, as entra and strict),
- ``generic`` (200, the group without its member list),
- ``?attributes=members`` (200 with every member: what the generic profile answered before
  issue 14, and what a client gets that asks for the list: O(group) by nature).

Prints a table of median and p95 milliseconds; asserts nothing.

    .venv/bin/python bench/member_patch.py                      # sizes 10, 1000, 3000
    .venv/bin/python bench/member_patch.py --sizes 10,100 --patches 20
    .venv/bin/python bench/member_patch.py --postgres postgresql://postgres@127.0.0.1:55433/postgres
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from audit_overhead import fresh_postgres
from scim_load_data import user_body

from scim_bridge.app import create_app
from scim_bridge.directory import groups
from scim_bridge.directory import users as user_service
from scim_bridge.directory.db import Database, upgrade
from scim_bridge.directory.rows import Context
from scim_bridge.directory.tokens import authenticate, create_token
from scim_bridge.scim.profiles import PROFILES
from scim_bridge.settings import Settings

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
#: (label, token profile, query string)
ANSWERS = (
    ("okta: 204", "okta", ""),
    ("generic: 200, no members", "generic", ""),
    ("?attributes=members", "generic", "?attributes=members"),
)


def seed(database: Database, sizes: list[int]) -> tuple[dict[str, str], dict[int, str], str]:
    """Create the tokens, one group per size (members from a shared pool of users) and the
    user the PATCHes add and remove; return tokens by profile, group ids by size, that user."""
    now = datetime.now(UTC)
    with database.write() as session:
        plain = {"okta": create_token(session, "bench-okta", profile="okta", now=now)[1]}
    with database.reader() as reader:
        principal, _ = authenticate(reader, plain["okta"], now=now)
    assert principal is not None
    compat = PROFILES["okta"].compat
    ids: list[str] = []
    with database.transaction() as cur:
        for index in range(max(sizes) + 1):
            ctx = Context(principal=principal, now=now, compat=compat, audit=False)
            ids.append(user_service.create_user(cur, user_body(index), ctx).id)
    newcomer, pool = ids[0], ids[1:]
    by_size: dict[int, str] = {}
    for size in sizes:
        with database.write() as session:
            ctx = Context(principal=principal, now=now, compat=compat, audit=False)
            body = {
                "displayName": f"group of {size}",
                "members": [{"value": i} for i in pool[:size]],
            }
            by_size[size] = groups.create_group(session, body, ctx).id
    # "generic": a token of profile auto, whose requests carry no IdP's User-Agent.
    with database.write() as session:
        plain["generic"] = create_token(session, "bench-auto", idp="bench-okta", now=now)[1]
    return plain, by_size, newcomer


def timed(send: Callable[[], Any], patches: int) -> tuple[float, float]:
    """Send ``patches`` requests; return median and p95 milliseconds (first two discarded)."""
    samples: list[float] = []
    for _ in range(patches + 2):
        started = time.perf_counter()
        response = send()
        samples.append((time.perf_counter() - started) * 1000)
        if response.status_code not in (200, 204):
            raise SystemExit(f"PATCH answered {response.status_code}: {response.get_data()!r}")
    samples = sorted(samples[2:])
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.95))]


def sender(client: Any, url: str, headers: dict[str, str], member: str) -> Callable[[], Any]:
    """Return a function sending the next PATCH: add ``member``, then remove it, and so on."""
    sent = [0]

    def send() -> Any:
        sent[0] += 1
        op = (
            {"op": "add", "path": "members", "value": [{"value": member}]}
            if sent[0] % 2
            else {"op": "remove", "path": f'members[value eq "{member}"]'}
        )
        return client.patch(url, json={"schemas": [PATCH], "Operations": [op]}, headers=headers)

    return send


def measure(url: str, sizes: list[int], patches: int) -> list[tuple[str, int, float, float]]:
    """Return (answer, size, median ms, p95 ms) for every answer and group size."""
    upgrade(url)
    database = Database(url)
    try:
        tokens, by_size, newcomer = seed(database, sizes)
        app = create_app(Settings(database_url=url), db=database)
        client = app.test_client()
        rows = []
        for label, profile, query in ANSWERS:
            headers = {
                "Authorization": f"Bearer {tokens[profile]}",
                "Content-Type": "application/scim+json",
                "User-Agent": "bench",
            }
            for size in sizes:
                send = sender(client, f"/scim/v2/Groups/{by_size[size]}{query}", headers, newcomer)
                rows.append((label, size, *timed(send, patches)))
        return rows
    finally:
        database.dispose()


def table(backend: str, rows: list[tuple[str, int, float, float]], sizes: list[int]) -> str:
    """Render one backend's results: a row per answer, median/p95 ms per group size."""
    head = f"| {backend}: member PATCH | " + " | ".join(f"{s:,} members" for s in sizes) + " |"
    lines = [head, "|---|" + "---:|" * len(sizes)]
    for label, _profile, _query in ANSWERS:
        cells = [f"{m:.1f} / {p:.1f} ms" for lab, _s, m, p in rows if lab == label]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Measure SQLite, and PostgreSQL when --postgres names a server."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,1000,3000", help="group sizes (10,1000,3000)")
    parser.add_argument("--patches", type=int, default=60, help="PATCHes per cell (60)")
    parser.add_argument("--postgres", default="", help="a PostgreSQL server URL to measure too")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"member PATCH latency, median / p95 of {args.patches} PATCHes (in-process)\n")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'member_patch.db'}"
        print(table("SQLite", measure(url, sizes, args.patches), sizes) + "\n")
    if args.postgres:
        url, drop = fresh_postgres(args.postgres)
        try:
            print(table("PostgreSQL", measure(url, sizes, args.patches), sizes))
        finally:
            drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
