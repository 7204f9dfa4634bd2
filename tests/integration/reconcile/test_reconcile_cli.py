"""`scim-bridge reconcile`: the JSON report, the exit status, the history, one-line refusals."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

from scim_bridge.cli import main
from scim_bridge.dingtalk.client import DingTalkClient
from scim_bridge.dingtalk.emulator import RunningEmulator


def run(db_url: str, emulator: RunningEmulator, *args: str, **env: str) -> Any:
    cfg = emulator.emulator.config
    environ = {
        "SCIM_BRIDGE_DATABASE_URL": db_url,
        "SCIM_BRIDGE_DINGTALK_BASE_URL": emulator.url,
        "SCIM_BRIDGE_DINGTALK_APP_KEY": cfg.app_key,
        "SCIM_BRIDGE_DINGTALK_APP_SECRET": cfg.app_secret,
        **env,
    }
    return CliRunner().invoke(main, ["reconcile", *args], env=environ)


def test_json_report_and_exit_status(
    org: Any, db_url: str, emulator: RunningEmulator, console: DingTalkClient
) -> None:
    clean = run(db_url, emulator, "--format", "json")
    assert clean.exit_code == 0, clean.output
    report = json.loads(clean.stdout)
    assert (report["compared"], report["accuracy_percent"], report["drift"]) == (4, 100.0, [])
    assert "estimate: about 9 DingTalk calls" in clean.stderr

    console.update_user("bob", {"title": "Edited"})
    drifted = run(db_url, emulator, "--format", "json")
    assert drifted.exit_code == 1
    report = json.loads(drifted.stdout)
    assert report["accuracy_percent"] == 75.0
    assert [
        {k: d[k] for k in ("kind", "scim_id", "dingtalk_id", "fields")} for d in report["drift"]
    ] == [
        {"kind": "user_field", "scim_id": org.ids["bob"], "dingtalk_id": "bob", "fields": ["title"]}
    ]

    table = run(db_url, emulator)
    assert table.exit_code == 1
    assert "accuracy 75.00%" in table.stdout
    assert "user_field" in table.stdout and "out_of_band" in table.stdout

    history = run(db_url, emulator, "--history", "--format", "json")
    assert history.exit_code == 0
    runs = json.loads(history.stdout)
    assert [r["accuracy_percent"] for r in runs] == [75.0, 75.0, 100.0]


def test_a_bad_setting_is_one_line_naming_it(db_url: str, emulator: RunningEmulator) -> None:
    result = run(db_url, emulator, SCIM_BRIDGE_RECONCILE_QPS_SHARE="2")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.strip().count("\n") == 0
    assert "reconcile_qps_share" in result.stderr and "Traceback" not in result.stderr


def test_history_with_no_runs_says_so(db_url: str, emulator: RunningEmulator) -> None:
    result = run(db_url, emulator, "--history")
    assert (result.exit_code, result.stdout.strip()) == (0, "no reconcile has run yet")
