"""What the availability bookkeeping costs (issue 12, acceptance 4): on versus off.

1. SCIM writes: ``--writes`` POST /Users through the Flask app, SCIM_BRIDGE_SLA_ENABLED on and
   off (metrics on in both). An API process makes no DingTalk call (design.md), so this shows
   what merely having the bookkeeping wired costs a write: expected nothing.
2. Translator: ``--users`` people created through SCIM, then a worker built by the composition
   root (as `scim-bridge worker` builds it) projects them onto the DingTalk emulator (in this
   process, unthrottled, ``dingtalk_qps`` high so DingTalk's quota is not what is measured).
   With the bookkeeping on, every DingTalk call is counted per minute and each change's lag is
   bucketed; the time includes the flush that writes the counts to the database. Prints
   users/s of each.

Rounds alternate the order, each on a fresh store. SQLite by default; ``--database-url``
runs on an empty PostgreSQL database (its tables are dropped and rebuilt). Asserts nothing.

    .venv/bin/python bench/sla_overhead.py --writes 100 --users 50 --rounds 2   # a quick look
    .venv/bin/python bench/sla_overhead.py                                      # the real run
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from metrics_bench import fresh_database

from scim_bridge.app import create_app
from scim_bridge.bootstrap import build_worker
from scim_bridge.dingtalk.emulator import EmulatorConfig, RunningEmulator, start_emulator
from scim_bridge.directory.db import Database
from scim_bridge.directory.tokens import create_token
from scim_bridge.settings import Settings
from scim_bridge.sync.worker import WorkerConfig


def person(i: int) -> dict[str, object]:
    """A user DingTalk accepts (a mobile and a name)."""
    return {
        "userName": f"sla{i:07d}@example.com",
        "name": {"givenName": "S", "familyName": f"L{i}"},
        "displayName": f"SLA {i}",
        "phoneNumbers": [{"value": f"+86 137{i:08d}", "type": "mobile"}],
    }


def post_users(url: str, settings: Settings, count: int) -> float:
    """Create ``count`` users through POST /Users; return users per second."""
    db = Database(url)
    with db.write() as session:
        _row, token = create_token(session, "bench", now=datetime.now(UTC))
    client = create_app(settings, db=db).test_client()
    headers = {"Authorization": f"Bearer {token}"}
    started = time.perf_counter()
    for i in range(count):
        answer = client.post("/scim/v2/Users", json=person(i), headers=headers)
        assert answer.status_code == 201, answer.data
    rate = count / (time.perf_counter() - started)
    db.dispose()
    return rate


def translate(url: str, settings: Settings, emulator: RunningEmulator, users: int) -> float:
    """Project ``users`` waiting users onto the emulator; return users per second."""
    emulator.emulator.reset()
    post_users(url, settings, users)
    db = Database(url)
    worker = build_worker(settings, db, config=WorkerConfig(threads=4))
    started = time.perf_counter()
    worker.run_until_idle(timeout=600)
    if worker.sla is not None:
        worker.sla.flush()  # the bookkeeping's database write belongs to its cost
    rate = users / (time.perf_counter() - started)
    worker.translator.client.close()
    db.dispose()
    return rate


def main() -> None:
    """Run both measures and print the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--writes", type=int, default=500)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    emulator = start_emulator(EmulatorConfig(qps=0))
    cfg = emulator.emulator.config
    writes: dict[bool, list[float]] = {True: [], False: []}
    translated: dict[bool, list[float]] = {True: [], False: []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            for round_ in range(args.rounds):
                for on in (False, True) if round_ % 2 == 0 else (True, False):
                    url = fresh_database(args.database_url, folder, f"w-{round_}-{on}")
                    settings = Settings(
                        database_url=url,
                        sla_enabled=on,
                        dingtalk_base_url=emulator.url,
                        dingtalk_app_key=cfg.app_key,
                        dingtalk_app_secret=cfg.app_secret,
                        dingtalk_qps=10_000,
                        runtime_dir=str(folder / "run"),
                    )
                    writes[on].append(post_users(url, settings, args.writes))
                    url = fresh_database(args.database_url, folder, f"t-{round_}-{on}")
                    settings = settings.replace(database_url=url)
                    translated[on].append(translate(url, settings, emulator, args.users))
    finally:
        emulator.stop()
    for name, rates, size in (
        ("POST /Users", writes, args.writes),
        ("translator", translated, args.users),
    ):
        on, off = statistics.median(rates[True]), statistics.median(rates[False])
        print(
            f"{name}: SLA bookkeeping off {off:.0f}/s, on {on:.0f}/s ({(on / off - 1) * 100:+.1f}%)"
        )
        print(f"  median of {args.rounds} rounds of {size} each (target: within 5%)")


if __name__ == "__main__":
    main()
