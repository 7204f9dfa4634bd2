"""Settings: defaults < config file < environment; errors name the setting and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from scim_bridge.errors import ConfigError
from scim_bridge.settings import Settings, load_settings


def test_defaults_need_no_configuration() -> None:
    settings = load_settings({})
    assert settings.database_url == "sqlite:///scim-bridge.db"
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.dingtalk_qps == 20.0


def test_environment_overrides_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "bridge.yaml"
    cfg.write_text("dingtalk_qps: 40\nport: 9000\n", encoding="utf-8")
    env = {"SCIM_BRIDGE_CONFIG": str(cfg), "SCIM_BRIDGE_PORT": "9100"}
    settings = load_settings(env)
    assert settings.dingtalk_qps == 40.0
    assert settings.port == 9100


def test_unknown_key_in_config_file_is_an_error_naming_it(tmp_path: Path) -> None:
    cfg = tmp_path / "bridge.yaml"
    cfg.write_text("dingtalk_qpz: 40\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="dingtalk_qpz"):
        load_settings({"SCIM_BRIDGE_CONFIG": str(cfg)})


def test_non_numeric_value_names_the_variable_to_fix() -> None:
    with pytest.raises(ConfigError, match="SCIM_BRIDGE_DINGTALK_QPS"):
        load_settings({"SCIM_BRIDGE_DINGTALK_QPS": "fast"})


def test_invalid_choice_is_refused() -> None:
    with pytest.raises(ConfigError, match="password_policy"):
        load_settings({"SCIM_BRIDGE_PASSWORD_POLICY": "plaintext"})


def test_masked_settings_hide_the_secret_and_database_password() -> None:
    settings = Settings(
        dingtalk_app_secret="s3cr3t-value",
        database_url="postgresql://bridge:hunter2@db.internal/scim",
    )
    shown = settings.masked()
    assert "s3cr3t-value" not in repr(shown)
    assert "hunter2" not in repr(shown)
    assert shown["dingtalk_app_secret"] == "********"
    assert "s3cr3t-value" not in repr(settings)


def test_custom_dingtalk_host_serves_both_api_families() -> None:
    assert Settings().dingtalk_v1_url == "https://api.dingtalk.com"
    assert Settings(dingtalk_base_url="http://127.0.0.1:9").dingtalk_v1_url == "http://127.0.0.1:9"
