"""Last month's SLA report reaches the people channels on the 1st, not the ITSM tool (issue 12)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alert_receiver import Clock, Receiver
from alert_support import alert_settings

from scim_bridge.bootstrap import build_worker, sla_jobs
from scim_bridge.dingtalk.client import DingTalkClient
from scim_bridge.directory.db import Database


def test_the_monthly_report_goes_to_the_robot_and_the_escalation_webhook(
    database: Database, receiver: Receiver, clock: Clock, tmp_path: Path
) -> None:
    clock.now = datetime(2027, 1, 1, 0, 15, tzinfo=UTC)  # the job's moment: the 1st, 00:15
    settings = alert_settings(database, receiver).replace(runtime_dir=str(tmp_path / "run"))
    sla = sla_jobs(settings, database, clock=clock)
    assert sla is not None
    client = DingTalkClient(app_key="k", app_secret="s", oapi_url="http://127.0.0.1:9")
    try:
        build_worker(settings, database, client=client, clock=clock, sla=sla)
        path = sla.monthly_report()
    finally:
        client.close()
    assert path is not None and path.is_file()
    [message] = receiver.robot
    assert receiver.robot_refused == []  # signed like every robot message
    assert "SLA report 2026-12 (UTC)" in message["markdown"]["title"]
    assert "--month 2026-12" in message["markdown"]["text"]
    [body] = receiver.escalation
    assert (body["type"], body["month"], body["tz"], body["file"]) == (
        "sla_report",
        "2026-12",
        "UTC",
        path.name,
    )
    assert "availability_percent" in body and "incidents" in body and "daily" not in body
    assert receiver.itsm == []  # a report is not an incident
