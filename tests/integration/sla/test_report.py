"""`scim-bridge report sla` over a month with injected outages, in UTC and in Hong Kong.

The month (November 2026, 43,200 minutes) holds, in UTC: 15 down minutes on the 3rd, 30 on
the 20th, 20 inside a declared one-hour maintenance window on the 25th (excluded), and 5 at
20:00 on the 30th, which is already 1 December in Hong Kong. By hand: UTC 50 down minutes
over 43,200 - 60 = 43,140 -> 99.8841 %, below 99.9 -> 10 % credit (dingtalk-standard);
Hong Kong 45 over 43,140 -> 99.8957 %, also 10 %.
"""

from __future__ import annotations

import csv
import io
import json
import stat
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from sla_support import minutes, put, utc

from scim_bridge.cli import main
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import DeadLetter, MaintenanceWindow, SyncLagMinute
from scim_bridge.monitor.incidents import evaluate
from scim_bridge.monitor.sla_jobs import SlaJobs, SlaPolicy
from scim_bridge.monitor.sla_recorder import AvailabilityRecorder
from scim_bridge.monitor.sla_report import SlaFigures
from scim_bridge.settings import Settings

UTC_PERCENT = 100 * (1 - 50 / 43140)
HK_PERCENT = 100 * (1 - 45 / 43140)


def _outages(database: Database) -> None:
    for start, count, after in (
        ("2026-11-03T02:00", 15, "2026-11-03T03:00"),
        ("2026-11-20T10:00", 30, "2026-11-20T11:00"),
        ("2026-11-25T00:10", 20, "2026-11-25T02:00"),
        ("2026-11-30T20:00", 5, "2026-11-30T21:00"),
    ):
        put(database, minutes(start, count), transient=3, api="/topapi/v2/user/update")
        put(database, [utc(start) + timedelta(minutes=count)], ok=2)  # DingTalk answers again
        with database.write() as s:
            if start.startswith("2026-11-25"):
                s.add(
                    MaintenanceWindow(
                        starts_at=utc("2026-11-25T00:00"),
                        ends_at=utc("2026-11-25T01:00"),
                        reason="DingTalk upgrade",
                        source="cli",
                        created_at=utc("2026-11-20T00:00"),
                    )
                )
                s.flush()
            evaluate(s, now=utc(after))  # the worker evaluates as the month goes
    with database.write() as s:
        for le, count in ((0.5, 100), (5.0, 8), (600.0, 2)):
            s.add(SyncLagMinute(minute=utc("2026-11-10T08:00"), le=le, count=count))
        for n, when in enumerate(("2026-11-04T00:00", "2026-11-21T00:00", "2026-10-30T00:00")):
            s.add(
                DeadLetter(
                    resource_type="User",
                    resource_id=f"u-{n}",
                    reason="mobile invalid",
                    attempts=1,
                    created_at=utc(when),
                )
            )


def _report(db_url: str, *args: str) -> str:
    result = CliRunner().invoke(
        main,
        ["report", "sla", "--month", "2026-11", *args],
        env={"SCIM_BRIDGE_DATABASE_URL": db_url},
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_json_has_the_figures_in_utc_and_in_hong_kong(db_url: str, database: Database) -> None:
    _outages(database)
    utc_report = json.loads(_report(db_url, "--format", "json"))
    assert utc_report["month"] == "2026-11" and utc_report["tz"] == "UTC"
    assert utc_report["target_percent"] == 99.9
    assert utc_report["availability_percent"] == pytest.approx(UTC_PERCENT)
    assert (utc_report["downtime_minutes"], utc_report["maintenance_minutes"]) == (50, 60)
    # The down minutes and the up minute after each outage, but the one inside maintenance.
    assert utc_report["measured_minutes"] == 50 + 3
    assert utc_report["credit_percent"] == 10.0
    assert [(i["start"], i["minutes"]) for i in utc_report["incidents"]] == [
        ("2026-11-03T02:00:00+00:00", 15),
        ("2026-11-20T10:00:00+00:00", 30),
        ("2026-11-30T20:00:00+00:00", 5),
    ]
    assert utc_report["incidents"][0]["end"] == "2026-11-03T02:15:00+00:00"
    assert utc_report["sync_lag"]["percentiles"] == {"p50": 0.5, "p90": 0.5, "p99": 600.0}
    assert (utc_report["changes_processed"], utc_report["dead_letters"]) == (110, 2)
    assert (
        utc_report["accuracy_percent"] is None and utc_report["accuracy_source"] == "not measured"
    )
    assert "counted apart and never charged" in utc_report["method"]
    hk = json.loads(_report(db_url, "--format", "json", "--tz", "Asia/Hong_Kong"))
    assert (hk["tz"], hk["downtime_minutes"]) == ("Asia/Hong_Kong", 45)
    assert hk["availability_percent"] == pytest.approx(HK_PERCENT)
    assert [i["start"] for i in hk["incidents"]] == [
        "2026-11-03T10:00:00+08:00",
        "2026-11-20T18:00:00+08:00",
    ]
    assert hk["daily"][0]["day"] == "2026-11-01" and len(hk["daily"]) == 30


def test_csv_has_a_summary_the_days_and_the_incidents(db_url: str, database: Database) -> None:
    _outages(database)
    rows = list(csv.reader(io.StringIO(_report(db_url, "--format", "csv"))))
    summary = {r[1]: r[2] for r in rows if r[0] == "summary"}
    assert float(summary["availability_percent"]) == pytest.approx(UTC_PERCENT, abs=1e-4)
    assert summary["downtime_minutes"] == "50" and summary["credit_percent"] == "10.0000"
    days = {r[1]: r for r in rows if r[0] == "day"}
    assert len(days) == 30 and days["2026-11-20"][3] == "30"
    assert days["2026-11-25"][5] == str(1440 - 60)  # maintenance left the day's minutes
    assert len([r for r in rows if r[0] == "incident"]) == 3


class _Page(HTMLParser):
    """Text by element id, and every tag and URL-bearing attribute seen."""

    VOID = frozenset({"meta", "br", "img", "link", "input", "hr"})

    def __init__(self) -> None:
        super().__init__()
        self.by_id: dict[str, str] = {}
        self.tags: set[str] = set()
        self.links: list[str] = []
        self._stack: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.links += [v or "" for k, v in attrs if k in ("src", "href", "xlink:href")]
        element = dict(attrs).get("id")
        if element:
            self.by_id.setdefault(element, "")
        if tag not in self.VOID:
            self._stack.append((tag, element))

    def handle_endtag(self, tag: str) -> None:
        while self._stack:
            if self._stack.pop()[0] == tag:
                return

    def handle_data(self, data: str) -> None:
        for _tag, element in self._stack:
            if element:
                self.by_id[element] += data


def test_html_is_one_self_contained_file_with_the_figures(
    db_url: str, database: Database, tmp_path: Path
) -> None:
    _outages(database)
    out = tmp_path / "nov.html"
    _report(db_url, "--format", "html", "--tz", "Asia/Hong_Kong", "--output", str(out))
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    body = out.read_text("utf-8")
    page = _Page()
    page.feed(body)
    assert f"{HK_PERCENT:.3f}%" in page.by_id["availability"]
    assert "45 min" in page.by_id["downtime"]
    assert "10.0%" in page.by_id["credit"]
    assert page.by_id["changes"].strip() == "110"
    assert "not measured" in page.by_id["accuracy"]
    assert "never charged" in page.by_id["method"]
    assert "svg" in page.tags and "rect" in page.tags
    assert not {"script", "link", "img", "iframe"} & page.tags
    assert page.links == [] and "http://" not in body and "https://" not in body
    assert "@media print" in body


def test_a_bad_month_or_zone_is_one_line_naming_the_fix(db_url: str) -> None:
    env = {"SCIM_BRIDGE_DATABASE_URL": db_url}
    for args, words in (
        (["--month", "2026-13"], "is not YYYY-MM"),
        (["--month", "2026-11", "--tz", "Mars/Olympus"], "not an IANA zone name"),
    ):
        result = CliRunner().invoke(main, ["report", "sla", *args], env=env)
        assert result.exit_code == 1
        assert words in result.output and len(result.output.strip().splitlines()) == 1


def test_the_monthly_job_renders_last_month_privately_and_delivers_it(
    database: Database, tmp_path: Path
) -> None:
    _outages(database)
    delivered: list[tuple[Path, SlaFigures]] = []
    jobs = SlaJobs(
        db=database,
        recorder=AvailabilityRecorder(clock=lambda: utc("2026-12-01T00:15")),
        policy=SlaPolicy.from_settings(Settings(sla_report_tz="Asia/Hong_Kong")),
        clock=lambda: utc("2026-12-01T00:15"),  # 08:15 on 1 December in Hong Kong
        reports_dir=tmp_path / "reports",
        deliver_report=lambda path, figures: delivered.append((path, figures)),
    )
    path = jobs.monthly_report()
    assert path is not None and path.parent == tmp_path / "reports"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [(p, f.month, f.tz, f.downtime_minutes) for p, f in delivered] == [
        (path, "2026-11", "Asia/Hong_Kong", 45)
    ]
    assert date.fromisoformat(delivered[0][1].daily[-1].day) == date(2026, 11, 30)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("SCIM_BRIDGE_SLA_CREDIT_TABLE", "99.9=10"),
        ("SCIM_BRIDGE_SLA_MAINTENANCE_WINDOWS", "2026-11-03T02:00Z upgrade"),
        ("SCIM_BRIDGE_SLA_REPORT_TZ", "Hong Kong"),
        ("SCIM_BRIDGE_SLA_DOWN_RATIO", "1.5"),
    ],
)
def test_a_bad_sla_setting_is_one_line_naming_it(db_url: str, setting: str, value: str) -> None:
    env = {"SCIM_BRIDGE_DATABASE_URL": db_url, setting: value}
    result = CliRunner().invoke(main, ["report", "sla", "--month", "2026-11"], env=env)
    assert result.exit_code == 1
    line = result.output.strip()
    assert len(line.splitlines()) == 1, line
    name = setting.removeprefix("SCIM_BRIDGE_").lower()
    assert name in line, line
