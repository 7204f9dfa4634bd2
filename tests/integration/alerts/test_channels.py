"""The channels over real HTTP: robot signature and limit, the ITSM body, retries (issue 12)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alert_receiver import ROBOT_SECRET, ROBOT_TOKEN, Clock, Receiver, serve_receiver
from alert_support import add_dead_letter, delivery_rows, events
from click.testing import CliRunner

from scim_bridge.cli import main
from scim_bridge.directory.db import Database
from scim_bridge.notify.message import Notice
from scim_bridge.notify.robot import PER_MINUTE, RobotChannel
from scim_bridge.notify.webhook import WebhookChannel
from scim_bridge.sync.alerting import AlertEngine


def notice(n: int = 0, status: str = "firing") -> Notice:
    return Notice(
        rule="sync_lag",
        key=f"sync_lag:{n}",
        severity="warning",
        status=status,
        summary=f"change {n} waits",
        started_at="2026-12-07T01:00:00Z",
    )


@pytest.fixture
def robot_receiver() -> Iterator[tuple[Clock, Receiver]]:
    clock = Clock()
    with serve_receiver(clock) as got:
        yield clock, got


def test_robot_messages_are_signed_as_dingtalk_checks_them(
    robot_receiver: tuple[Clock, Receiver],
) -> None:
    clock, receiver = robot_receiver
    robot = RobotChannel(receiver.robot_url, ROBOT_SECRET, clock=clock.epoch)
    assert robot.send([notice()]).ok
    [message] = receiver.robot
    assert message["msgtype"] == "markdown"
    assert "FIRING" in message["markdown"]["text"] and "sync_lag" in message["markdown"]["title"]
    assert receiver.robot_refused == []


def test_a_wrong_secret_is_refused_and_the_error_names_the_setting_not_the_token(
    robot_receiver: tuple[Clock, Receiver],
) -> None:
    clock, receiver = robot_receiver
    robot = RobotChannel(receiver.robot_url, "not-the-secret", clock=clock.epoch)
    delivery = robot.send([notice()])
    assert not delivery.ok and receiver.robot_refused == [310000] and receiver.robot == []
    assert delivery.error is not None
    assert "SCIM_BRIDGE_ALERT_DINGTALK_SECRET" in delivery.error
    assert ROBOT_TOKEN not in delivery.error


def test_the_robot_never_exceeds_twenty_messages_a_minute(
    robot_receiver: tuple[Clock, Receiver],
) -> None:
    clock, receiver = robot_receiver
    robot = RobotChannel(receiver.robot_url, ROBOT_SECRET, clock=clock.epoch)
    results = []
    for n in range(PER_MINUTE + 5):
        results.append(robot.send([notice(n)]))
        clock.advance(seconds=1)
    assert [r.ok for r in results] == [True] * PER_MINUTE + [False] * 5
    assert all(r.retry_after is not None and 0 < r.retry_after <= 60 for r in results[PER_MINUTE:])
    assert len(receiver.robot) == PER_MINUTE and receiver.robot_refused == []  # never throttled
    clock.advance(seconds=40)  # the first message of the minute has left the window
    assert robot.send([notice(99)]).ok


def test_many_notices_go_to_the_robot_as_one_digest(
    robot_receiver: tuple[Clock, Receiver],
) -> None:
    clock, receiver = robot_receiver
    robot = RobotChannel(receiver.robot_url, ROBOT_SECRET, clock=clock.epoch)
    assert robot.send([notice(n) for n in range(40)]).ok
    [message] = receiver.robot
    text = message["markdown"]["text"]
    assert "sync_lag:0" in text and "sync_lag:29" in text and "sync_lag:30" not in text
    assert "10 more" in text


def test_the_itsm_body_carries_status_severity_rule_key_summary_and_times(
    robot_receiver: tuple[Clock, Receiver],
) -> None:
    _clock, receiver = robot_receiver
    itsm = WebhookChannel("itsm_webhook", f"{receiver.url}/itsm")
    resolved = Notice(
        rule="dingtalk_availability",
        key="dingtalk_availability",
        severity="critical",
        status="resolved",
        summary="DingTalk availability 85.00% over the last 60 minutes",
        started_at="2026-12-07T01:00:00Z",
        ended_at="2026-12-07T01:09:00Z",
        labels={"previous_severity": "warning"},
    )
    assert itsm.send([resolved]).ok
    assert receiver.itsm == [
        {
            "status": "resolved",
            "severity": "critical",
            "rule": "dingtalk_availability",
            "key": "dingtalk_availability",
            "summary": "DingTalk availability 85.00% over the last 60 minutes",
            "started_at": "2026-12-07T01:00:00Z",
            "ended_at": "2026-12-07T01:09:00Z",
            "labels": {"previous_severity": "warning"},
        }
    ]


def test_an_unreachable_webhook_fails_without_showing_its_query() -> None:
    hook = WebhookChannel("itsm_webhook", "http://127.0.0.1:9/itsm?apikey=Hush-K3y")
    delivery = hook.send([notice()])
    assert not delivery.ok and delivery.error is not None
    assert "Hush-K3y" not in delivery.error and "127.0.0.1:9/itsm" in delivery.error


def test_a_failed_delivery_is_retried_with_backoff_and_alerted_on_the_other_channels(
    database: Database, engine: AlertEngine, clock: Clock, receiver: Receiver
) -> None:
    receiver.itsm_failures = 1
    add_dead_letter(database, at=clock())
    engine.run_once()
    assert receiver.itsm == [] and len(receiver.robot) == 1
    [failed] = [d for d in delivery_rows(database) if d.channel == "itsm_webhook"]
    assert (failed.outcome, failed.attempt) == ("retrying", 1)
    assert failed.error == f"HTTP 500 from {receiver.url}/itsm"

    clock.advance(seconds=20)  # before the 30 s backoff: no new attempt
    engine.run_once()
    assert receiver.itsm == []
    # ... but the failing channel is itself an alert, on the channels that still work.
    assert "alert_channel:itsm_webhook" in receiver.robot[-1]["markdown"]["text"]

    clock.advance(seconds=15)
    engine.run_once()
    assert events(receiver.itsm) == [("firing", "dead_letters", "warning")]
    # Delivered again: the channel alert resolves after the hold-down, on the robot.
    for _ in range(6):
        clock.advance(minutes=1)
        engine.run_once()
    robot_texts = [m["markdown"]["text"] for m in receiver.robot]
    assert sum("alert_channel:itsm_webhook" in t for t in robot_texts) == 2
    assert "RESOLVED" in robot_texts[-1]
    # The ITSM tool never heard of its own outage.
    assert [b["rule"] for b in receiver.itsm] == ["dead_letters"]


def test_alerts_list_shows_alerts_and_each_channels_deliveries_without_secrets(
    database: Database, engine: AlertEngine, clock: Clock, receiver: Receiver
) -> None:
    receiver.itsm_failures = 1
    add_dead_letter(database, at=clock())
    engine.run_once()
    result = CliRunner().invoke(
        main,
        ["alerts", "list"],
        env={
            "SCIM_BRIDGE_DATABASE_URL": database.url,
            "SCIM_BRIDGE_ALERT_DINGTALK_WEBHOOK": receiver.robot_url,
        },
    )
    assert result.exit_code == 0, result.output
    assert "FIRING   warning    dead_letters" in result.output
    assert "itsm_webhook" in result.output and "retrying" in result.output
    assert "HTTP 500 from" in result.output
    assert "dingtalk_robot" in result.output and "sent" in result.output
    assert ROBOT_TOKEN not in result.output and ROBOT_SECRET not in result.output


def test_alerts_list_says_so_when_nothing_fired(database: Database) -> None:
    result = CliRunner().invoke(
        main, ["alerts", "list"], env={"SCIM_BRIDGE_DATABASE_URL": database.url}
    )
    assert result.exit_code == 0 and "no alerts have fired" in result.output
