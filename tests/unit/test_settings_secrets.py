"""Secrets in settings: masked by declaration in `config show`, kept from alert commands."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from scim_bridge.errors import ConfigError
from scim_bridge.settings import (
    Settings,
    alert_environment,
    load_settings,
    mask_command,
    mask_url,
)

#: Names that say a setting may hold a secret (issue 9: *secret*, *token*, *password*, webhooks).
SECRET_NAME = re.compile(r"secret|token|passw|pwd|webhook|credential|api_key|dsn|_url$")


def test_every_text_setting_named_like_a_secret_is_masked() -> None:
    planted = "Pl4nted-S3cret"
    for f in fields(Settings):
        if not SECRET_NAME.search(f.name) or not isinstance(getattr(Settings(), f.name), str):
            continue
        if f.metadata.get("mask") == "plain":  # declared, in review, to hold no secret
            continue
        value = (
            f"https://user:{planted}@example.test/x?access_token={planted}"
            if f.name.endswith(("_url", "_webhook"))  # URLs are checked to be URLs
            else planted
        )
        shown = Settings().replace(**{f.name: value}).masked()[f.name]
        assert planted not in str(shown), f"{f.name} shows its secret: {shown}"


def test_masking_is_declared_on_the_field() -> None:
    declared = {f.name: f.metadata.get("mask") for f in fields(Settings)}
    assert declared["dingtalk_app_secret"] == "secret"
    assert declared["database_url"] == "url"
    assert declared["dingtalk_base_url"] == "url"
    assert declared["alert_command"] == "command"
    # Named like a secret, holds a choice: the exception is declared, not guessed.
    assert declared["password_policy"] == "plain"


def test_a_text_setting_named_like_a_secret_is_masked_without_a_declaration() -> None:
    from dataclasses import make_dataclass

    later = make_dataclass(
        "Later",
        [("alert_webhook_token", str, "tok-123"), ("sla_target", str, "99.9")],
        bases=(Settings,),
        frozen=True,
    )
    shown = later().masked()
    assert shown["alert_webhook_token"] == "********"
    assert shown["sla_target"] == "99.9"


def test_masked_secret_shows_only_whether_it_is_set() -> None:
    assert Settings(dingtalk_app_secret="abc").masked()["dingtalk_app_secret"] == "********"
    assert Settings().masked()["dingtalk_app_secret"] == ""


def test_url_password_and_secret_query_values_are_masked() -> None:
    shown = mask_url("postgresql://bridge:hunter2@db.internal:5432/scim?sslmode=require")
    assert shown == "postgresql://bridge:********@db.internal:5432/scim?sslmode=require"
    hook = mask_url("https://oapi.dingtalk.com/robot/send?access_token=abc123&sign=zz&x=1")
    assert hook == "https://oapi.dingtalk.com/robot/send?access_token=********&sign=********&x=1"
    assert mask_url("sqlite:///scim-bridge.db") == "sqlite:///scim-bridge.db"


def test_alert_command_shows_the_program_but_not_its_arguments() -> None:
    shown = mask_command("/usr/local/bin/page --token s3cr3t --to ops")
    assert shown.startswith("/usr/local/bin/page ")
    assert "s3cr3t" not in shown
    assert mask_command("") == ""


def test_alert_environment_keeps_only_the_allow_list() -> None:
    env = {
        "PATH": "/usr/bin",
        "HOME": "/home/bridge",
        "LANG": "en_US.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TZ": "Asia/Shanghai",
        "SCIM_BRIDGE_ALERT_PAGER_KEY": "for-the-pager",
        "SCIM_BRIDGE_DINGTALK_APP_SECRET": "app-secret",
        "SCIM_BRIDGE_DATABASE_URL": "postgresql://u:pw@db/x",
        "PGPASSWORD": "pw",
        "AWS_SECRET_ACCESS_KEY": "aws",
    }
    assert alert_environment(env) == {
        "PATH": "/usr/bin",
        "HOME": "/home/bridge",
        "LANG": "en_US.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TZ": "Asia/Shanghai",
        "SCIM_BRIDGE_ALERT_PAGER_KEY": "for-the-pager",
    }


def test_runtime_dir_defaults_to_xdg_runtime_dir() -> None:
    assert load_settings({}).runtime_dir == ""
    xdg = load_settings({"XDG_RUNTIME_DIR": "/run/user/1000"})
    assert xdg.runtime_dir == "/run/user/1000/scim-bridge"
    chosen = load_settings(
        {"XDG_RUNTIME_DIR": "/run/user/1000", "SCIM_BRIDGE_RUNTIME_DIR": "/srv/bridge/run"}
    )
    assert chosen.runtime_dir == "/srv/bridge/run"


def test_runtime_dir_from_the_config_file_wins_over_xdg(tmp_path: Path) -> None:
    cfg = tmp_path / "bridge.yaml"
    cfg.write_text("runtime_dir: /srv/bridge/run\n", encoding="utf-8")
    env = {"SCIM_BRIDGE_CONFIG": str(cfg), "XDG_RUNTIME_DIR": "/run/user/1000"}
    assert load_settings(env).runtime_dir == "/srv/bridge/run"


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("1", True), ("no", False)])
def test_reject_unprojectable_reads_a_boolean(raw: str, expected: bool) -> None:
    settings = load_settings({"SCIM_BRIDGE_REJECT_UNPROJECTABLE": raw})
    assert settings.reject_unprojectable is expected
    assert load_settings({}).reject_unprojectable is False


def test_a_boolean_setting_refuses_other_words() -> None:
    with pytest.raises(ConfigError, match="SCIM_BRIDGE_REJECT_UNPROJECTABLE"):
        load_settings({"SCIM_BRIDGE_REJECT_UNPROJECTABLE": "maybe"})
