"""The SLA bookkeeping as the composition root wires it: worker jobs, client calls, /metrics,
and the maintenance commands."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from sla_support import minutes, put, utc
from sqlalchemy import func, select

from scim_bridge.app import create_app
from scim_bridge.bootstrap import build_worker
from scim_bridge.cli import main
from scim_bridge.dingtalk.emulator import EmulatorConfig, RunningEmulator, start_emulator
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import AvailabilityMinute, MaintenanceWindow
from scim_bridge.monitor.metrics import Metrics, parse, total
from scim_bridge.monitor.sla_gauges import AvailabilityGauges
from scim_bridge.settings import Settings
from scim_bridge.sync.schedule import schedule_jobs


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    running = start_emulator(EmulatorConfig(qps=0))
    yield running
    running.stop()


def test_a_built_worker_counts_its_dingtalk_calls_and_schedules_the_sla_jobs(
    settings: Settings, database: Database, emulator: RunningEmulator, tmp_path: object
) -> None:
    cfg = emulator.emulator.config
    wired = settings.replace(
        dingtalk_base_url=emulator.url,
        dingtalk_app_key=cfg.app_key,
        dingtalk_app_secret=cfg.app_secret,
        runtime_dir=str(tmp_path),
    )
    worker = build_worker(wired, database, clock=lambda: utc("2026-11-05T10:00:05"))
    try:
        assert worker.sla is not None
        worker.translator.client.refresh_token()
        worker.sla.flush()
        with database.read() as s:
            row = s.scalars(select(AvailabilityMinute)).one()
            assert row.ok >= 1 and row.transient == 0
        scheduler = schedule_jobs(worker)
        assert {"sla-flush", "sla-probe", "sla-report"} <= {j.id for j in scheduler.get_jobs()}
        off = build_worker(wired.replace(sla_enabled=False), database)
        assert off.sla is None
        off.translator.client.close()
    finally:
        worker.translator.client.close()


def test_metrics_show_availability_per_window_with_coverage(database: Database) -> None:
    put(database, minutes("2026-11-05T09:20", 30), ok=2)
    put(database, minutes("2026-11-05T09:50", 3), transient=2)  # 33 measured, 3 down
    metrics = Metrics()
    metrics.add_collector(AvailabilityGauges(database, clock=lambda: utc("2026-11-05T10:00:20")))
    parsed = parse(metrics.exposition())
    name = "scim_bridge_dingtalk_availability_ratio"
    assert total(parsed, name, window="60m") == pytest.approx(1 - 3 / 33)
    elapsed = 4 * 1440 + 600
    assert total(parsed, name, window="mtd") == pytest.approx(1 - 3 / elapsed)
    coverage = "scim_bridge_dingtalk_availability_coverage_ratio"
    assert total(parsed, coverage, window="60m") == pytest.approx(33 / 60)


def test_the_app_serves_the_availability_gauge(settings: Settings, database: Database) -> None:
    app = create_app(settings, db=database, clock=lambda: utc("2026-11-05T10:00:20"))
    put(database, minutes("2026-11-05T09:59", 1), ok=1)
    body = app.test_client().get("/metrics").get_data()
    assert total(parse(body), "scim_bridge_dingtalk_availability_ratio", window="60m") == 1.0


def test_maintenance_add_list_remove_and_bad_input_changes_nothing(
    db_url: str, database: Database
) -> None:
    env = {"SCIM_BRIDGE_DATABASE_URL": db_url}

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(main, ["maintenance", *args], env=env)
        return result.exit_code, result.output

    code, out = run("add", "--start", "2026-11-03T10:00+08:00", "--end", "2026-11-03T12:00+08:00",
                    "--reason", "DingTalk upgrade")  # fmt: skip
    assert code == 0 and "2026-11-03T02:00+0000" in out, out
    for bad, words in (
        (["--start", "2026-11-03T10:00", "--end", "2026-11-03T12:00Z"], "has no UTC offset"),
        (["--start", "2026-11-03T12:00Z", "--end", "2026-11-03T10:00Z"], "must end after"),
        (["--start", "soon", "--end", "2026-11-03T10:00Z"], "is not an ISO 8601 time"),
    ):
        code, out = run("add", *bad, "--reason", "x")
        assert code == 1 and words in out and len(out.strip().splitlines()) == 1, out
    with database.read() as s:
        assert s.scalar(select(func.count()).select_from(MaintenanceWindow)) == 1
    code, out = run("list")
    assert code == 0 and "DingTalk upgrade" in out and "cli" in out
    code, out = run("remove", "2")
    assert code == 1 and "no maintenance window 2" in out
    assert run("remove", "1")[0] == 0
    assert "no maintenance windows" in run("list")[1]
