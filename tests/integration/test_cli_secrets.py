"""No secret reaches an operator's terminal: `scim-bridge config show` with secrets set."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from scim_bridge.cli import main


def test_config_show_prints_no_secret_set_in_the_environment(tmp_path: Path) -> None:
    env = {
        "SCIM_BRIDGE_DATABASE_URL": "postgresql://bridge:Db-Pa55word@db.internal:5432/scim",
        "SCIM_BRIDGE_DINGTALK_APP_KEY": "ding-app-key",
        "SCIM_BRIDGE_DINGTALK_APP_SECRET": "App-S3cret-Value",
        "SCIM_BRIDGE_DINGTALK_BASE_URL": "https://proxy:Proxy-Pa55@proxy.internal/?token=Url-T0ken",
        "SCIM_BRIDGE_ALERT_COMMAND": "/usr/local/bin/page --api-key Pager-K3y",
        "SCIM_BRIDGE_RUNTIME_DIR": str(tmp_path / "run"),
    }
    result = CliRunner().invoke(main, ["config", "show"], env=env)
    assert result.exit_code == 0, result.output
    for secret in ("Db-Pa55word", "App-S3cret-Value", "Proxy-Pa55", "Url-T0ken", "Pager-K3y"):
        assert secret not in result.output
    shown = dict(line.split(" = ", 1) for line in result.output.splitlines())
    assert shown["database_url"] == "postgresql://bridge:********@db.internal:5432/scim"
    assert shown["dingtalk_app_secret"] == "********"
    assert shown["alert_command"] == "/usr/local/bin/page ********"
    assert shown["dingtalk_app_key"] == "ding-app-key"  # an identifier, not a secret
    assert shown["runtime_dir"] == str(tmp_path / "run")
