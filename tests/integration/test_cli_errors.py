"""Every command group's failures reach the operator as one line, `Error: <problem>; <fix>`.

Real databases (SQLite and PostgreSQL), a real closed port for an unreachable server, real
files; the operator's view is click's runner with stdout and stderr apart.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from scim_bridge.cli import main
from scim_bridge.cli.errors import describe
from scim_bridge.dingtalk.emulator import EmulatorConfig, RunningEmulator, start_emulator
from scim_bridge.mapping.rules import default_rules_path
from scim_bridge.settings import Settings

CLI = str(Path(sys.executable).with_name("scim-bridge"))
#: Variables of the developer's shell that would change what these commands do.
CLEAN = {
    "SCIM_BRIDGE_CONFIG": None,
    "SCIM_BRIDGE_DINGTALK_BASE_URL": None,
    "SCIM_BRIDGE_DINGTALK_APP_KEY": None,
    "SCIM_BRIDGE_DINGTALK_APP_SECRET": None,
    "SCIM_BRIDGE_MAPPING_FILE": None,
    "SCIM_BRIDGE_LOG_LEVEL": None,
}


def invoke(env: dict[str, str | None], *args: str) -> Result:
    """Run one command as an operator would."""
    return CliRunner().invoke(main, list(args), env={**CLEAN, **env})


def assert_one_error_line(result: Result, *words: str) -> str:
    """The command failed with exactly one line on stderr, nothing on stdout, no traceback."""
    assert isinstance(result.exception, SystemExit), result.exception  # not an escaped error
    assert result.exit_code != 0
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("Error: ") and "Traceback" not in line
    for word in words:
        assert word in line, line
    return line


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def unreachable_postgres() -> dict[str, str | None]:
    """Settings naming a PostgreSQL server that is not there (the password must not show)."""
    return {"SCIM_BRIDGE_DATABASE_URL": f"postgresql://ops:hunter2@127.0.0.1:{closed_port()}/x"}


DATABASE_COMMANDS = [
    ("db", "upgrade"),
    ("token", "create", "okta"),
    ("token", "list"),
    ("token", "revoke", "okta"),
    ("dlq", "list"),
    ("dlq", "show", "1"),
    ("dlq", "retry", "--all"),
    ("dlq", "drop", "1"),
    ("guard", "status"),
    ("guard", "confirm", "abc"),
    ("plan", "--source", "links"),
    ("quality",),
]


@pytest.mark.parametrize("args", DATABASE_COMMANDS, ids=" ".join)
def test_unreachable_database_is_one_line_naming_the_setting(
    args: tuple[str, ...], unreachable_postgres: dict[str, str | None]
) -> None:
    line = assert_one_error_line(
        invoke(unreachable_postgres, *args), "cannot use the database", "SCIM_BRIDGE_DATABASE_URL"
    )
    assert "hunter2" not in line and "ops:********@" in line


@pytest.mark.parametrize("args", DATABASE_COMMANDS[1:], ids=" ".join)
def test_database_without_schema_says_to_run_db_upgrade(
    args: tuple[str, ...], tmp_path: Path
) -> None:
    env: dict[str, str | None] = {"SCIM_BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'new.db'}"}
    assert_one_error_line(invoke(env, *args), "no schema", "scim-bridge db upgrade")


def test_sqlite_file_in_a_missing_directory_names_the_directory(tmp_path: Path) -> None:
    env: dict[str, str | None] = {"SCIM_BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path}/no/x.db"}
    for args in (("db", "upgrade"), ("token", "list")):
        assert_one_error_line(invoke(env, *args), f"{tmp_path}/no", "does not exist")
    assert not (tmp_path / "no").exists()


def test_malformed_database_url_names_the_setting() -> None:
    result = invoke({"SCIM_BRIDGE_DATABASE_URL": "not a url"}, "dlq", "list")
    assert_one_error_line(result, "SCIM_BRIDGE_DATABASE_URL", "sqlite:///")


def test_unknown_revision_names_the_fix(tmp_path: Path) -> None:
    env: dict[str, str | None] = {"SCIM_BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    assert_one_error_line(invoke(env, "db", "upgrade", "--revision", "nope"), "--revision head")


def test_unknown_token_name_is_one_line(db_url: str) -> None:
    result = invoke({"SCIM_BRIDGE_DATABASE_URL": db_url}, "token", "revoke", "nobody")
    assert_one_error_line(result, "no token named 'nobody'", "token list")


def test_unknown_dead_letter_id_is_one_line(db_url: str) -> None:
    result = invoke({"SCIM_BRIDGE_DATABASE_URL": db_url}, "dlq", "show", "999")
    assert_one_error_line(result, "no dead letter 999", "dlq list")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("port: [80\n", ("bad.yaml:", "not valid YAML", "fix the syntax")),
        ("prot: 80\n", ("unknown setting(s) prot", "known settings are")),
        ("port: eighty\n", ("port", "SCIM_BRIDGE_PORT")),
        ("- a list\n", ("must hold a mapping",)),
    ],
    ids=["yaml", "unknown-key", "not-a-number", "not-a-mapping"],
)
def test_invalid_config_file_is_one_line_for_every_group(
    tmp_path: Path, content: str, words: tuple[str, ...]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(content, encoding="utf-8")
    for args in (("config", "show"), ("token", "list"), ("dlq", "list"), ("serve",)):
        assert_one_error_line(invoke({}, "--config", str(bad), *args), *words)


def test_missing_config_file_names_the_variable(tmp_path: Path) -> None:
    result = invoke({"SCIM_BRIDGE_CONFIG": str(tmp_path / "nope.yaml")}, "config", "show")
    assert_one_error_line(result, "does not exist", "SCIM_BRIDGE_CONFIG")


def test_bad_log_level_names_the_setting() -> None:
    result = invoke({"SCIM_BRIDGE_LOG_LEVEL": "loud"}, "config", "show")
    assert_one_error_line(result, "log_level", "SCIM_BRIDGE_LOG_LEVEL")


@pytest.fixture
def bad_mapping(tmp_path: Path) -> Path:
    """A mapping file with two mistakes."""
    text = default_rules_path().read_text(encoding="utf-8")
    path = tmp_path / "mapping.yaml"
    path.write_text(
        text.replace("    title: title", "    titel: title").replace("version: 1", "version: 7"),
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    "args", [("plan", "--source", "links"), ("quality",), ("guard", "confirm", "abc")]
)
def test_bad_mapping_file_is_one_line_pointing_at_mapping_check(
    db_url: str, bad_mapping: Path, args: tuple[str, ...]
) -> None:
    env = {"SCIM_BRIDGE_DATABASE_URL": db_url, "SCIM_BRIDGE_MAPPING_FILE": str(bad_mapping)}
    assert_one_error_line(
        invoke(env, *args), "mapping.yaml:", f"scim-bridge mapping check {bad_mapping}"
    )


def test_missing_mapping_file_names_the_setting(db_url: str, tmp_path: Path) -> None:
    env = {
        "SCIM_BRIDGE_DATABASE_URL": db_url,
        "SCIM_BRIDGE_MAPPING_FILE": str(tmp_path / "nope.yaml"),
    }
    assert_one_error_line(invoke(env, "quality"), "does not exist", "SCIM_BRIDGE_MAPPING_FILE")


def test_plan_with_dingtalk_unreachable_is_one_line(db_url: str) -> None:
    env = {
        "SCIM_BRIDGE_DATABASE_URL": db_url,
        "SCIM_BRIDGE_DINGTALK_BASE_URL": f"http://127.0.0.1:{closed_port()}",
        "SCIM_BRIDGE_DINGTALK_APP_KEY": "key",
        "SCIM_BRIDGE_DINGTALK_APP_SECRET": "s3cret-value",
    }
    result = CliRunner().invoke(main, ["plan"], env={**CLEAN, **env})
    # The command said which DingTalk it reads before it failed; then one error line.
    note, *rest = result.stderr.splitlines()
    assert note.startswith("using DingTalk at http://127.0.0.1:")
    assert len(rest) == 1 and rest[0].startswith("Error: DingTalk at http://127.0.0.1:")
    assert "did not answer" in rest[0]
    assert "SCIM_BRIDGE_DINGTALK_BASE_URL" in rest[0] and "s3cret-value" not in result.output
    assert isinstance(result.exception, SystemExit) and result.exit_code != 0


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    """The DingTalk emulator on 127.0.0.1."""
    with start_emulator(EmulatorConfig(qps=0)) as running:
        yield running


def test_plan_with_refused_dingtalk_credentials_names_them(
    db_url: str, emulator: RunningEmulator
) -> None:
    env = {
        "SCIM_BRIDGE_DATABASE_URL": db_url,
        "SCIM_BRIDGE_DINGTALK_BASE_URL": emulator.url,
        "SCIM_BRIDGE_DINGTALK_APP_KEY": emulator.emulator.config.app_key,
        "SCIM_BRIDGE_DINGTALK_APP_SECRET": "wrong-secret",
    }
    result = invoke(env, "plan")
    line = result.stderr.splitlines()[-1]
    assert len(result.stderr.splitlines()) == 2 and result.exit_code != 0
    assert line.startswith("Error: ") and "SCIM_BRIDGE_DINGTALK_APP_SECRET" in line
    assert "wrong-secret" not in result.output


def test_worker_with_half_the_credentials_names_the_missing_one() -> None:
    result = invoke({"SCIM_BRIDGE_DINGTALK_APP_KEY": "key"}, "worker")
    assert_one_error_line(result, "SCIM_BRIDGE_DINGTALK_APP_SECRET")


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 that something listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


@pytest.mark.parametrize("command", ["serve", "quickstart", "emulator"])
def test_port_in_use_is_one_line_and_nothing_is_written(
    command: str, taken_port: int, tmp_path: Path
) -> None:
    env: dict[str, str | None] = {"SCIM_BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'q.db'}"}
    result = invoke(env, command, "--host", "127.0.0.1", "--port", str(taken_port))
    assert_one_error_line(result, f"127.0.0.1:{taken_port}", "already in use", "--port")
    assert list(tmp_path.iterdir()) == []  # no database, no token, no emulator record


def test_unexpected_error_is_named_with_the_way_to_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ctx = click.Context(main, info_name="scim-bridge", obj=Settings())
    ctx.invoked_subcommand = "plan"
    try:
        raise KeyError("missing")  # a real exception, with its traceback
    except KeyError as exc:
        with caplog.at_level(logging.DEBUG, logger="scim_bridge"):
            line = describe(exc, ctx)
    assert line == (
        "unexpected KeyError in `scim-bridge plan`; this is a bug: run it again with "
        "SCIM_BRIDGE_LOG_LEVEL=DEBUG to log the traceback, and report it"
    )
    (record,) = caplog.records
    assert record.levelno == logging.DEBUG and record.exc_info is not None


@pytest.mark.parametrize("command", ["serve", "quickstart"])
def test_serving_with_a_bad_mapping_fails_before_forking(
    command: str, bad_mapping: Path, tmp_path: Path
) -> None:
    # A real process: were the check missing, gunicorn's worker would die in a traceback.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIM_BRIDGE_")}
    env["SCIM_BRIDGE_MAPPING_FILE"] = str(bad_mapping)
    done = subprocess.run(
        [CLI, command, "--port", str(closed_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("Error: mapping.yaml:") and "scim-bridge mapping check" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mapping.yaml"]  # nothing written
