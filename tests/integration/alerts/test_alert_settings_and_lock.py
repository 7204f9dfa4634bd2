"""Alert settings fail in one line and never show their secrets; one evaluation at a time."""

from __future__ import annotations

import threading

import pytest
from alert_receiver import ROBOT_SECRET, ROBOT_TOKEN, Clock, Receiver
from alert_support import add_dead_letter, alert_settings, delivery_rows
from click.testing import CliRunner

from scim_bridge.bootstrap import build_alerting
from scim_bridge.cli import main
from scim_bridge.directory.db import Database


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"SCIM_BRIDGE_SLA_CRITICAL": "96"}, "sla_critical must not be above sla_warning"),
        ({"SCIM_BRIDGE_SLA_WARNING": "120"}, "sla_warning must be a percentage"),
        ({"SCIM_BRIDGE_ALERT_EVAL_SECONDS": "0"}, "alert_eval_seconds must be greater than 0"),
        ({"SCIM_BRIDGE_ALERT_LAG_SECONDS": "soon"}, "alert_lag_seconds must be a number"),
        ({"SCIM_BRIDGE_SLA_WINDOW_MINUTES": "0"}, "sla_window_minutes must be at least 1"),
        (
            {"SCIM_BRIDGE_ALERT_WEBHOOK_URL": "servicenow.example.com/hook"},
            "alert_webhook_url must be an http:// or https:// URL",
        ),
    ],
)
def test_a_bad_alert_setting_is_one_line_naming_it(env: dict[str, str], words: str) -> None:
    result = CliRunner().invoke(main, ["config", "show"], env=env)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "SCIM_BRIDGE_" in lines[0]
    assert "Traceback" not in result.output


def test_config_show_masks_the_robot_secret_and_its_access_token() -> None:
    hook = f"https://oapi.dingtalk.com/robot/send?access_token={ROBOT_TOKEN}"
    result = CliRunner().invoke(
        main,
        ["config", "show"],
        env={
            "SCIM_BRIDGE_ALERT_DINGTALK_WEBHOOK": hook,
            "SCIM_BRIDGE_ALERT_DINGTALK_SECRET": ROBOT_SECRET,
            "SCIM_BRIDGE_ALERT_WEBHOOK_URL": "https://itsm.example.com/hook?apikey=Itsm-K3y",
        },
    )
    assert result.exit_code == 0, result.output
    assert ROBOT_TOKEN not in result.output and ROBOT_SECRET not in result.output
    assert "Itsm-K3y" not in result.output
    assert "alert_dingtalk_webhook" in result.output and "oapi.dingtalk.com" in result.output


def test_two_processes_evaluating_at_once_announce_an_alert_once(
    database: Database, receiver: Receiver, clock: Clock
) -> None:
    # Two engines over one database, as two worker processes have: each its own pool.
    settings = alert_settings(database, receiver)
    second = Database(database.url)
    try:
        engines = [
            build_alerting(settings, db, clock=clock, environ={}) for db in (database, second)
        ]
        add_dead_letter(database, at=clock())
        start = threading.Barrier(2)
        failures: list[BaseException] = []

        def evaluate(index: int) -> None:
            start.wait()
            try:
                engines[index].evaluate()
            except BaseException as exc:  # surfaced below, not lost in the thread
                failures.append(exc)

        threads = [threading.Thread(target=evaluate, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert failures == []
        for engine in engines:
            engine.deliver()
    finally:
        second.dispose()
    assert [d.channel for d in delivery_rows(database)].count("itsm_webhook") == 1
    assert [b["rule"] for b in receiver.itsm] == ["dead_letters"]
