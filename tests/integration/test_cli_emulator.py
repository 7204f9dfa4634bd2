"""Commands run beside `make run` find its built-in emulator through the file it records.

The emulator is started exactly as `scim-bridge quickstart` starts it (bootstrap's
start_builtin_emulator: in this process, on 127.0.0.1, recorded in the data directory), and
`scim-bridge plan` runs through click's runner against it over real HTTP.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from scim_bridge.bootstrap import BuiltinEmulator, emulator_record_path, start_builtin_emulator
from scim_bridge.cli import main
from scim_bridge.dingtalk.emulator.record import EmulatorRecord, read_record, write_record
from scim_bridge.settings import Settings

CLEAN: dict[str, str | None] = {
    "SCIM_BRIDGE_CONFIG": None,
    "SCIM_BRIDGE_DINGTALK_BASE_URL": None,
    "SCIM_BRIDGE_DINGTALK_APP_KEY": None,
    "SCIM_BRIDGE_DINGTALK_APP_SECRET": None,
    "SCIM_BRIDGE_MAPPING_FILE": None,
}
USERS = [
    {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": f"{name}@example.com",
        "name": {"givenName": name.title(), "familyName": "Example"},
        "phoneNumbers": [{"value": f"+86 138 0013 800{n}", "type": "mobile"}],
        "active": True,
    }
    for n, name in enumerate(["ada", "grace"])
]


def plan(db_url: str, *args: str, **env: str) -> Result:
    """`scim-bridge plan --format json` with no DingTalk settings but ``env``."""
    return CliRunner().invoke(
        main,
        ["plan", "--format", "json", *args],
        env={**CLEAN, "SCIM_BRIDGE_DATABASE_URL": db_url, **env},
    )


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in a fresh directory: PostgreSQL's data directory is the working directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def beside_make_run(workdir: Path, db_url: str, scim: Any) -> Iterator[BuiltinEmulator]:
    """Two people in the directory and the built-in emulator running as quickstart runs it."""
    for user in USERS:
        assert scim.post("/Users", user).status_code == 201
    _settings, emulator = start_builtin_emulator(Settings(database_url=db_url))
    yield emulator
    emulator.stop()


def test_plan_without_dingtalk_settings_uses_the_recorded_emulator(
    db_url: str, beside_make_run: BuiltinEmulator
) -> None:
    result = plan(db_url)
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"using the built-in DingTalk emulator of `make run` at {beside_make_run.record.url} "
        f"(from {beside_make_run.path})"
    ]
    totals = json.loads(result.stdout)["totals"]
    assert totals["user"]["create"] == len(USERS)
    # Walked live: the plan read DingTalk's users from that emulator, and wrote nothing there.
    calls = beside_make_run.running.emulator.calls()
    assert "/topapi/v2/user/list" in {call["path"] for call in calls}, calls
    assert beside_make_run.running.emulator.users() == {}


def test_dingtalk_base_url_emulator_means_the_recorded_one(
    db_url: str, beside_make_run: BuiltinEmulator
) -> None:
    result = plan(db_url, SCIM_BRIDGE_DINGTALK_BASE_URL="emulator")
    assert result.exit_code == 0, result.output
    assert beside_make_run.record.url in result.stderr
    assert json.loads(result.stdout)["totals"]["user"]["create"] == len(USERS)


def test_configured_credentials_win_over_the_recorded_emulator(
    db_url: str, beside_make_run: BuiltinEmulator
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    result = plan(
        db_url,
        SCIM_BRIDGE_DINGTALK_BASE_URL=closed,
        SCIM_BRIDGE_DINGTALK_APP_KEY="key",
        SCIM_BRIDGE_DINGTALK_APP_SECRET="secret",
    )
    assert result.exit_code != 0
    assert result.stderr.startswith(f"using DingTalk at {closed}\n")
    assert beside_make_run.running.emulator.calls() == []


def test_the_record_is_private_and_gone_after_shutdown(
    workdir: Path, db_url: str, beside_make_run: BuiltinEmulator
) -> None:
    path = beside_make_run.path
    assert path == emulator_record_path(Settings(database_url=db_url))
    if db_url.startswith("sqlite"):
        assert path.parent == Path(db_url.removeprefix("sqlite:///")).parent / ".scim-bridge"
    else:
        assert path.parent == workdir / ".scim-bridge"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert read_record(path) == beside_make_run.record
    beside_make_run.stop()
    assert not path.exists()
    result = plan(db_url)
    assert result.exit_code != 0 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: DingTalk is not configured: set SCIM_BRIDGE_DINGTALK_APP_KEY")
    assert "SCIM_BRIDGE_DINGTALK_APP_SECRET" in line and line.endswith("or use --source links")


def test_a_record_left_by_a_killed_process_is_ignored(workdir: Path, db_url: str) -> None:
    path = emulator_record_path(Settings(database_url=db_url))
    write_record(path, EmulatorRecord("http://127.0.0.1:9", "k", "s", pid=1))
    result = plan(db_url)
    assert result.exit_code != 0 and "DingTalk is not configured" in result.stderr
    result = plan(db_url, SCIM_BRIDGE_DINGTALK_BASE_URL="emulator")
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: SCIM_BRIDGE_DINGTALK_BASE_URL is 'emulator' but no built-in")
    assert "make run" in line and "Traceback" not in result.output


def test_a_forked_process_leaves_the_record_to_the_one_that_wrote_it(
    beside_make_run: BuiltinEmulator,
) -> None:
    # gunicorn's workers are forks of the process that recorded the emulator and unwind
    # through the same `finally`: only the recording process may remove it.
    forked = BuiltinEmulator(
        beside_make_run.running,
        dataclasses.replace(beside_make_run.record, pid=os.getpid() + 1),
        beside_make_run.path,
    )
    forked.stop()
    assert read_record(beside_make_run.path) == beside_make_run.record


def test_each_database_has_its_own_record(workdir: Path) -> None:
    a = emulator_record_path(Settings(database_url=f"sqlite:///{workdir}/a.db"))
    b = emulator_record_path(Settings(database_url=f"sqlite:///{workdir}/b.db"))
    assert a != b and a.parent == b.parent == workdir / ".scim-bridge"
