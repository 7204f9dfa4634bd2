# ruff: noqa: S603  (runs our own CLI and the local Chromium)
"""A month with injected DingTalk outages, its `report sla` in three formats, and the hand check.

Issue 12, acceptance 3. On a fresh SQLite store this replays March 2026 (a 31-day month) as the
worker would have recorded it: a probe answered every minute (docs/sla.md, the probe), counted
by the real ``AvailabilityRecorder`` under a hand-moved clock, flushed and evaluated into
incidents every six hours (``monitor/incidents.evaluate``, as the worker's job does). Injected:

- two DingTalk outages inside Hong Kong's March: 30 minutes on 5 March 10:00 HKT and 15 on
  22 March 21:00 HKT (transient failures of user/update and the probe failing with errcode -1);
- a maintenance window declared through the real CLI (`scim-bridge maintenance add`), 14 March
  02:00-04:00 HKT, with 20 failing minutes inside it: excluded from both sides of the ratio;
- ten minutes of our own errors on 10 March: 4xx answers ("failed") and throttling, which
  DingTalk answered: measured, never charged (docs/sla.md);
- two outages of 10 minutes just outside Hong Kong's March but inside UTC's (28 Feb 23:50 HKT is
  15:50 UTC, inside neither; 1 April 00:30 HKT is 31 March 16:30 UTC, inside UTC's March).

Then it renders `scim-bridge report sla --month 2026-03 --tz Asia/Hong_Kong` as HTML, CSV and
JSON through the real CLI (and JSON in UTC), screenshots the HTML with headless Chromium, and
prints the hand check beside the report's own figures. Output goes to --out
(docs/evidence/ by default).

    .venv/bin/python scripts/sla_evidence.py
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from scim_bridge.directory.db import Database, upgrade
from scim_bridge.monitor.credits import PRESETS
from scim_bridge.monitor.incidents import evaluate
from scim_bridge.monitor.sla_probe import PROBE_API
from scim_bridge.monitor.sla_recorder import AvailabilityRecorder

CLI = str(Path(sys.executable).with_name("scim-bridge"))
MINUTE = timedelta(minutes=1)
TZ = "Asia/Hong_Kong"
#: Replayed span (UTC): a little before Hong Kong's March to a little after UTC's.
START, END = datetime(2026, 2, 28, 12, 0, tzinfo=UTC), datetime(2026, 4, 1, 0, 0, tzinfo=UTC)
#: DingTalk outages: (first minute UTC, minutes).
OUTAGES = (
    (datetime(2026, 2, 28, 15, 50, tzinfo=UTC), 10),  # 23:50 HKT 28 Feb: outside both Marches
    (datetime(2026, 3, 5, 2, 0, tzinfo=UTC), 30),  # 10:00 HKT 5 March
    (datetime(2026, 3, 13, 18, 30, tzinfo=UTC), 20),  # 02:30 HKT 14 March: in maintenance
    (datetime(2026, 3, 22, 13, 0, tzinfo=UTC), 15),  # 21:00 HKT 22 March
    (datetime(2026, 3, 31, 16, 30, tzinfo=UTC), 10),  # 00:30 HKT 1 April: UTC's March only
)
#: Our own errors (4xx, throttling): DingTalk answered, so measured and not charged.
OURS = (datetime(2026, 3, 10, 6, 0, tzinfo=UTC), 10)
MAINTENANCE = ("2026-03-14T02:00+08:00", "2026-03-14T04:00+08:00")


def in_span(minute: datetime, spans: tuple[tuple[datetime, int], ...]) -> bool:
    """Whether ``minute`` is inside one of the (start, minutes) spans."""
    return any(start <= minute < start + n * MINUTE for start, n in spans)


def probe(recorder: AvailabilityRecorder, outcome: str) -> None:
    """Count one probe as the worker does: its HTTP call (the client's observer), its verdict."""
    recorder.call_finished(PROBE_API, "ok" if outcome == "ok" else "transient", 0.02)
    recorder.probe_finished(outcome, api=PROBE_API, code="" if outcome == "ok" else "-1")


def replay(db: Database) -> None:
    """Record every minute of the span through the recorder; flush and evaluate every 6 h."""
    clock = [START]
    recorder = AvailabilityRecorder(clock=lambda: clock[0])
    minute, n = START, 0
    while minute < END:
        clock[0] = minute + timedelta(seconds=30)
        if in_span(minute, OUTAGES):
            for _ in range(3):
                recorder.call_finished("/topapi/v2/user/update", "transient", 5.0)
            probe(recorder, "failed")
        elif in_span(minute, (OURS,)):
            for outcome in ("failed", "failed", "throttled", "auth"):
                recorder.call_finished("/topapi/v2/user/create", outcome, 0.05)
        else:
            probe(recorder, "ok")
            if n % 10 == 0:  # a change acknowledged now and then: the lag chart's data
                recorder.observe_lag(0.2 + (n % 7) * 0.4)
        minute, n = minute + MINUTE, n + 1
        if n % 360 == 0 or minute >= END:
            recorder.flush(db, now=minute, down_ratio=0.5)
            with db.write() as session:
                evaluate(session, now=minute + timedelta(minutes=1))


def cli(env: dict[str, str], *args: str) -> str:
    """Run a scim-bridge command; return its standard output (fail loudly)."""
    done = subprocess.run([CLI, *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"scim-bridge {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def screenshot(html: Path, png: Path) -> str:
    """Screenshot ``html`` with headless Chromium; return what was done."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        return "no chromium on PATH: screenshot skipped (apt-get install -y chromium)"
    argv = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    argv += [f"--screenshot={png}", "--window-size=1280,2000", html.resolve().as_uri()]
    subprocess.run(argv, capture_output=True, timeout=120, check=True)
    return f"screenshot: {png}"


def hand_check(down: int, tz_name: str, report: dict[str, Any]) -> None:
    """Print the arithmetic by hand next to what the report says."""
    minutes, maintenance = 31 * 24 * 60, 120
    counted = minutes - maintenance
    availability = 100 * (1 - down / counted)
    credit = PRESETS["dingtalk-standard"].credit_percent(availability)
    print(f"\nhand check, March 2026 in {tz_name}")
    print(f"  minutes in the month          31 x 1440 = {minutes}")
    print(f"  maintenance (14 Mar 02-04 HKT)            {maintenance}")
    print(f"  minutes counted               {minutes} - {maintenance} = {counted}")
    print(f"  down minutes (charged)                    {down}")
    print("  our own 4xx/throttled minutes (10 Mar)    10, measured, not charged")
    print("  failing minutes inside maintenance        20, not charged")
    print(f"  availability = 1 - {down}/{counted}        = {availability:.4f} %")
    print(f"  credit (dingtalk-standard: <99.9 -> 10 %, <99 -> 25 %, <95 -> 100 %) = {credit:g} %")
    print(
        "  the report says: "
        f"availability {report['availability_percent']:.4f} %, down {report['downtime_minutes']},"
        f" maintenance {report['maintenance_minutes']}, credit {report['credit_percent']:g} %,"
        f" measured {report['measured_minutes']},"
        f" incidents {[(i['start'], i['minutes']) for i in report['incidents']]}"
    )
    agree = (
        report["downtime_minutes"] == down
        and report["maintenance_minutes"] == maintenance
        and abs(float(report["availability_percent"]) - availability) < 1e-9
        and report["credit_percent"] == credit
    )
    print(f"  agree: {'yes' if agree else 'NO'}")


def main(argv: list[str] | None = None) -> int:
    """Build the month, render the report, screenshot it, check it by hand."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/evidence"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'sla.db'}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCIM_BRIDGE_")}
        env["SCIM_BRIDGE_DATABASE_URL"] = url
        upgrade(url)
        print(
            cli(
                env,
                "maintenance",
                "add",
                "--start",
                MAINTENANCE[0],
                "--end",
                MAINTENANCE[1],
                "--reason",
                "DingTalk upgrade",
            ).strip()
        )
        db = Database(url)
        try:
            replay(db)
        finally:
            db.dispose()
        month = ["report", "sla", "--month", "2026-03"]
        for fmt in ("html", "csv", "json"):
            target = args.out / f"sla_report_hk.{fmt}"
            cli(env, *month, "--tz", TZ, "--format", fmt, "--output", str(target))
            print(f"wrote {target}")
        hk = json.loads((args.out / "sla_report_hk.json").read_text())
        utc = json.loads(cli(env, *month, "--tz", "UTC", "--format", "json"))
        print(screenshot(args.out / "sla_report_hk.html", args.out / "sla_report_hk.png"))
    hand_check(30 + 15, TZ, hk)
    hand_check(30 + 15 + 10, "UTC", utc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
