"""The alert command runs with an allow-listed environment: none of our secrets reach it."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from scim_bridge.bootstrap import build_worker
from scim_bridge.dingtalk.client import DingTalkClient
from scim_bridge.directory.db import Database
from scim_bridge.notify.command import CommandChannel
from scim_bridge.notify.message import Notice
from scim_bridge.settings import Settings

SECRETS = {
    "SCIM_BRIDGE_DINGTALK_APP_SECRET": "App-S3cret",
    "SCIM_BRIDGE_DATABASE_URL": "postgresql://bridge:Db-Pa55@db/scim",
    "PGPASSWORD": "Pg-Pa55",
    "AWS_SECRET_ACCESS_KEY": "Aws-K3y",
}
ALLOWED = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/home/bridge",
    "LANG": "en_US.UTF-8",
    "LC_ALL": "en_US.UTF-8",
    "TZ": "Asia/Shanghai",
    "SCIM_BRIDGE_ALERT_PAGER": "ops-oncall",
}


DEAD_LETTERS_FIRING = Notice(
    rule="dead_letters",
    key="dead_letters",
    severity="warning",
    status="firing",
    summary="1 change(s) on the dead-letter list",
    started_at="2026-12-07T00:00:00Z",
)


def env_dumper(target: Path) -> str:
    script = (
        "import json, os, sys; sys.stdin.read(); "
        f"json.dump(dict(os.environ), open({str(target)!r}, 'w'))"
    )
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(script)}"


def seen(target: Path) -> dict[str, str]:
    found: dict[str, str] = json.loads(target.read_text(encoding="utf-8"))
    # Python itself may coerce a C locale by setting LC_CTYPE (PEP 538): an LC_* name too.
    found.pop("LC_CTYPE", None)
    return found


def test_alert_command_sees_only_the_allow_listed_environment(tmp_path: Path) -> None:
    target = tmp_path / "env.json"
    assert CommandChannel(env_dumper(target), env={**ALLOWED}).send([DEAD_LETTERS_FIRING]).ok
    assert seen(target) == ALLOWED


def test_worker_alert_command_gets_no_secret_of_ours(
    tmp_path: Path, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {**SECRETS, **ALLOWED}.items():
        monkeypatch.setenv(name, value)
    target = tmp_path / "env.json"
    settings = Settings(database_url=database.url, alert_command=env_dumper(target))
    client = DingTalkClient(app_key="k", app_secret="App-S3cret", oapi_url="http://127.0.0.1:9")
    try:
        worker = build_worker(settings, database, client=client)
        # Issue 12: the command is one channel of the alert rules, not a dead-letter hook.
        assert worker.alerting is not None
        for channel in worker.alerting.channels:
            assert channel.send([DEAD_LETTERS_FIRING]).ok
    finally:
        client.close()
    env = seen(target)
    assert env == ALLOWED
    for secret in SECRETS.values():
        assert secret not in json.dumps(env)
