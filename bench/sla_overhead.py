"""What the metrics and availability bookkeeping cost (issue 12, acceptance 4): on versus off.

"On" is SCIM_BRIDGE_METRICS_ENABLED and SCIM_BRIDGE_SLA_ENABLED both on (the default), "off"
both off (``--toggle sla`` or ``--toggle metrics`` switches only one, the other staying on).

1. SCIM writes: ``--writes`` POST /Users through the Flask app. An API process makes no
   DingTalk call (design.md), so the availability side costs a write nothing; the metrics
   side is a counter and a histogram per request.
2. Translator: ``--users`` people created through SCIM, then a worker built by the composition
   root (as `scim-bridge worker` builds it) projects them onto the DingTalk emulator (in this
   process, unthrottled, ``dingtalk_qps`` high so DingTalk's quota is not what is measured).
   With the bookkeeping on, every DingTalk call is counted per minute and each change's lag is
   bucketed; the time includes the flush that writes the counts to the database. Prints
   users/s of each.

Besides the rate, each measure records this process's CPU time per operation
(``time.process_time``): the Flask app, SQLite and the emulator all run in this process, so it
is the work done, and it is far steadier than wall time on a shared, loaded machine.

Rounds alternate the order, each on a fresh store. SQLite by default; ``--database-url``
runs on an empty PostgreSQL database (its tables are dropped and rebuilt). Asserts nothing.

    .venv/bin/python bench/sla_overhead.py --writes 100 --users 50 --rounds 2   # a quick look
    .venv/bin/python bench/sla_overhead.py --rounds 8                           # the real run

``--instructions`` counts instead of timing (bench/instructions.py, under callgrind): the
instructions per POST /Users (and PATCH) and per user the translator projects, with the
bookkeeping off and on, and the ratio; repeatable where wall time is not. ``--writes`` and
``--users`` are then the operations counted (keep them small: callgrind is ~50x slower).

    .venv/bin/python bench/sla_overhead.py --instructions --writes 100 --users 60
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


#: (users per second, CPU milliseconds of this process per user) of one measure.
Rate = tuple[float, float]


def post_users(url: str, settings: Settings, count: int) -> Rate:
    """Create ``count`` users through POST /Users; return users/s and CPU ms per user."""
    db = Database(url)
    with db.write() as session:
        _row, token = create_token(session, "bench", now=datetime.now(UTC))
    client = create_app(settings, db=db).test_client()
    headers = {"Authorization": f"Bearer {token}"}
    started, cpu = time.perf_counter(), time.process_time()
    for i in range(count):
        answer = client.post("/scim/v2/Users", json=person(i), headers=headers)
        assert answer.status_code == 201, answer.data
    rate = count / (time.perf_counter() - started), (time.process_time() - cpu) * 1000 / count
    db.dispose()
    return rate


def translate(url: str, settings: Settings, emulator: RunningEmulator, users: int) -> Rate:
    """Project ``users`` waiting users onto the emulator; return users/s and CPU ms per user."""
    emulator.emulator.reset()
    post_users(url, settings, users)
    db = Database(url)
    worker = build_worker(settings, db, config=WorkerConfig(threads=4))
    started, cpu = time.perf_counter(), time.process_time()
    worker.run_until_idle(timeout=600)
    if worker.sla is not None:
        worker.sla.flush()  # the bookkeeping's database write belongs to its cost
    rate = users / (time.perf_counter() - started), (time.process_time() - cpu) * 1000 / users
    worker.translator.client.close()
    db.dispose()
    return rate


def switches(toggle: str, on: bool) -> dict[str, bool]:
    """The settings of one side: what ``toggle`` names follows ``on``, the rest stays on."""
    return {
        "metrics_enabled": on or toggle == "sla",
        "sla_enabled": on or toggle == "metrics",
    }


def report(name: str, rates: dict[bool, list[Rate]], size: int) -> list[str]:
    """Print the medians of rate and CPU per operation, on against off, and every round's rate;
    return the lines of every round's CPU time, to print under the table."""
    rate_on, rate_off = (statistics.median(r for r, _ in rates[side]) for side in (True, False))
    cpu_on, cpu_off = (statistics.median(c for _, c in rates[side]) for side in (True, False))
    print(
        f"| {name} | {rate_off:.0f} | {rate_on:.0f} | {(rate_on / rate_off - 1) * 100:+.1f}% | "
        f"{cpu_off:.2f} | {cpu_on:.2f} | {(cpu_on / cpu_off - 1) * 100:+.1f}% | "
        f"{', '.join(f'{r:.0f}' for r, _ in rates[False])} | "
        f"{', '.join(f'{r:.0f}' for r, _ in rates[True])} | {size} |"
    )
    return [
        f"- {name}, {'on' if side else 'off'}: CPU ms/op each round: "
        + ", ".join(f"{c:.2f}" for _, c in rates[side])
        for side in (False, True)
    ]


def count_instructions(args: argparse.Namespace) -> None:
    """Print the instructions per SCIM write and per translated user, bookkeeping off vs on."""
    import instructions

    names = {"both": "metrics_enabled,sla_enabled", "sla": "sla_enabled"}
    toggled = names.get(args.toggle, "metrics_enabled")
    backend = ["--database-url", args.database_url] if args.database_url else []
    instructions.main(["--compare", toggled, "--ops", str(args.writes), *backend])
    instructions.main(
        ["--workload", "translator", "--compare", toggled, "--ops", str(args.users), *backend]
    )


def main() -> None:
    """Run both measures and print the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--writes", type=int, default=500)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--toggle", choices=("both", "sla", "metrics"), default="both")
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions (callgrind), off vs on"
    )
    args = parser.parse_args()
    if args.instructions:
        count_instructions(args)
        return
    emulator = start_emulator(EmulatorConfig(qps=0))
    cfg = emulator.emulator.config
    writes: dict[bool, list[Rate]] = {True: [], False: []}
    translated: dict[bool, list[Rate]] = {True: [], False: []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            for round_ in range(args.rounds):
                for on in (False, True) if round_ % 2 == 0 else (True, False):
                    url = fresh_database(args.database_url, folder, f"w-{round_}-{on}")
                    settings = Settings(
                        database_url=url,
                        **switches(args.toggle, on),
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
    backend = (args.database_url or "sqlite").split(":", 1)[0]
    print(f"\n{backend}, toggled: {args.toggle}, {args.rounds} rounds (medians; target within 5%)")
    print(
        "| measure | off /s | on /s | rate on vs off | off CPU ms/op | on CPU ms/op | "
        "CPU on vs off | off, each round | on, each round | ops per round |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|---|---:|")
    notes = report("POST /Users", writes, args.writes)
    notes += report("translator (users projected)", translated, args.users)
    print("\n".join(["", *notes]))


if __name__ == "__main__":
    main()
