"""`scim-bridge emulator --callback-url` refuses, in one line, to push without the secrets."""

from __future__ import annotations

from click.testing import CliRunner, Result
from events_harness import AES_KEY, TOKEN

from scim_bridge.cli import main

CLEAN = {
    "SCIM_BRIDGE_CONFIG": None,
    "SCIM_BRIDGE_DINGTALK_CALLBACK_TOKEN": None,
    "SCIM_BRIDGE_DINGTALK_CALLBACK_AES_KEY": None,
}


def emulator(env: dict[str, str | None]) -> Result:
    args = ["emulator", "--port", "1", "--callback-url", "http://127.0.0.1:1/dingtalk/events"]
    return CliRunner().invoke(main, args, env={**CLEAN, **env})


def one_line(result: Result) -> str:
    assert result.exit_code != 0
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: ") and "Traceback" not in line
    return line


def test_callback_url_without_the_secrets_names_them() -> None:
    line = one_line(emulator({}))
    assert "SCIM_BRIDGE_DINGTALK_CALLBACK_TOKEN" in line


def test_malformed_aes_key_names_the_setting_and_hides_the_values() -> None:
    env = {
        "SCIM_BRIDGE_DINGTALK_CALLBACK_TOKEN": TOKEN,
        "SCIM_BRIDGE_DINGTALK_CALLBACK_AES_KEY": AES_KEY[:-1] + "!",
    }
    line = one_line(emulator(env))
    assert "dingtalk_callback_aes_key" in line
    assert TOKEN not in line and AES_KEY[:-1] not in line
