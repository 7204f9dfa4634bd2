"""The translator's CPU per projected change, the DingTalk emulator's excluded.

The emulator runs in its own process (``scim-bridge emulator``, unthrottled, no latency), so
the CPU this process spends while the worker drains the outbox is the translator's own: its
dispatch loop, its pool threads, the database reads and writes, the mapping, the DingTalk
client's HTTP encoding. Seeding happens before the meter starts. Two measures:

- onboarding: ``--people`` new people, each one change (create in DingTalk, link, audit);
- update: the same people's title changed, each one change (update in DingTalk).

CPU is ``time.process_time()`` around ``Worker.run_until_idle()``: every thread of this process
(the emulator's threads are in the other process), divided by the changes drained. Prints
numbers, asserts none; ``--json`` prints them as one JSON object for bench/run_all.py.

    .venv/bin/python bench/translator_cpu.py                 # 2,000 people, SQLite
    .venv/bin/python bench/translator_cpu.py --people 200    # a smoke run
    .venv/bin/python bench/translator_cpu.py --database-url postgresql+psycopg://...
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

APP_KEY, APP_SECRET = "bench-cpu-app", "bench-cpu-secret-0d5e"
CLI = str(Path(sys.executable).with_name("scim-bridge"))


def person(index: int) -> dict[str, Any]:
    """Return an Okta-like user body DingTalk accepts (a mobile number is required)."""
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": f"cpu{index:06d}@example.com",
        "externalId": f"c{index:06d}",
        "displayName": f"Cpu {index:06d}",
        "title": "Engineer",
        "phoneNumbers": [{"value": f"+86 137{index:08d}", "type": "mobile"}],
        "emails": [{"value": f"cpu{index:06d}@example.com", "type": "work", "primary": True}],
    }


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def emulator_process(workdir: Path) -> Iterator[str]:
    """Run ``scim-bridge emulator`` (unthrottled) in its own process; yield its URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIM_BRIDGE_")}
    cmd = [CLI, "emulator", "--port", str(port), "--qps", "0"]
    cmd += ["--app-key", APP_KEY, "--app-secret", APP_SECRET]
    with (workdir / "emulator.log").open("wb") as out:
        process = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if process.poll() is not None:
                        raise SystemExit("the emulator exited before it listened") from None
                    time.sleep(0.2)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=30)


def principal_of(database: Any) -> Any:
    """Create an okta token and return its principal (the IdP the users belong to)."""
    from scim_bridge.directory.tokens import authenticate, create_token

    with database.write() as session:
        _row, token = create_token(session, "bench", profile="okta", now=datetime.now(UTC))
    with database.reader() as reader:
        principal, _ = authenticate(reader, token, now=datetime.now(UTC))
    assert principal is not None
    return principal


def seed(database: Any, principal: Any, people: int) -> list[str]:
    """Create ``people`` users through the service layer (each leaves one outbox row)."""
    from scim_bridge.directory import users as user_service

    ids: list[str] = []
    for start in range(0, people, 500):
        with database.transaction() as cur:
            for index in range(start, min(people, start + 500)):
                ctx = user_service.Context(principal=principal, now=datetime.now(UTC))
                ids.append(user_service.create_user(cur, person(index), ctx).id)
    return ids


def retitle(database: Any, principal: Any, ids: list[str]) -> None:
    """Change every seeded person's title (each leaves one outbox row)."""
    from scim_bridge.directory import users as user_service

    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "title", "value": "Staff Engineer"}],
    }
    for start in range(0, len(ids), 500):
        with database.transaction() as cur:
            for user_id in ids[start : start + 500]:
                ctx = user_service.Context(principal=principal, now=datetime.now(UTC))
                user_service.patch_user(cur, user_id, body, ctx)


def drain(worker: Any) -> tuple[float, float]:
    """Run the worker until the outbox is empty; return (CPU s of this process, wall s)."""
    cpu, wall = time.process_time(), time.perf_counter()
    worker.run_until_idle(timeout=3600)
    return time.process_time() - cpu, time.perf_counter() - wall


def measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Seed, drain the onboarding, retitle, drain the update; return the figures."""
    from scim_bridge.bootstrap import build_worker
    from scim_bridge.directory.db import Database, upgrade
    from scim_bridge.directory.models import Link
    from scim_bridge.settings import Settings
    from scim_bridge.sync.worker import WorkerConfig

    url = args.database_url or f"sqlite:///{workdir / 'translator-cpu.db'}"
    upgrade(url)
    database = Database(url)
    try:
        with emulator_process(workdir) as emulator_url:
            settings = Settings(
                database_url=url,
                dingtalk_base_url=emulator_url,
                dingtalk_api_url=emulator_url,
                dingtalk_app_key=APP_KEY,
                dingtalk_app_secret=APP_SECRET,
                dingtalk_qps=100_000.0,  # the emulator is unthrottled: measure CPU, not pacing
                runtime_dir=str(workdir / "runtime"),
            )
            worker = build_worker(
                settings, database, config=WorkerConfig(threads=settings.sync_threads)
            )
            principal = principal_of(database)
            ids = seed(database, principal, args.people)
            create_cpu, create_wall = drain(worker)
            retitle(database, principal, ids)
            update_cpu, update_wall = drain(worker)
            with database.read() as session:
                linked = session.query(Link).filter(Link.kind == "user").count()
            worker.translator.client.close()
    finally:
        database.dispose()
    return {
        "people": args.people,
        "backend": url.split(":", 1)[0].split("+", 1)[0],
        "linked": linked,
        "create_ms_cpu": 1000 * create_cpu / args.people,
        "create_wall_s": create_wall,
        "update_ms_cpu": 1000 * update_cpu / args.people,
        "update_wall_s": update_wall,
    }


def main(argv: list[str] | None = None) -> int:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--people", type=int, default=2000, help="people onboarded (2000)")
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="translator-cpu-") as tmp:
        figures = measure(args, Path(tmp))
    if args.json:
        print(json.dumps(figures))
        return 0
    backend, people = figures["backend"], args.people
    print(f"translator CPU per change ({backend}, {people:,} people, emulator apart)")
    print(f"  linked in DingTalk      {figures['linked']:,}")
    print(
        f"  onboarding (create)     {figures['create_ms_cpu']:.2f} ms CPU/change "
        f"({figures['create_wall_s']:.1f} s wall)"
    )
    print(
        f"  update (title)          {figures['update_ms_cpu']:.2f} ms CPU/change "
        f"({figures['update_wall_s']:.1f} s wall)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
