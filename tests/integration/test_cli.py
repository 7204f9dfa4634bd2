"""The scim-bridge command as an operator uses it (click's runner, a real SQLite file)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from scim_bridge.cli import main
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import Token
from scim_bridge.directory.tokens import authenticate, hash_token


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"SCIM_BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}


def run(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.output


def test_token_create_prints_the_token_alone_on_the_last_line_and_stores_only_a_hash(
    env: dict[str, str],
) -> None:
    assert run(env, "db", "upgrade")[0] == 0
    code, out = run(env, "token", "create", "okta-prod", "--profile", "okta")
    assert code == 0, out
    token = out.strip().splitlines()[-1]
    assert token.startswith("scb_") and len(token) > 40
    db = Database(env["SCIM_BRIDGE_DATABASE_URL"])
    with db.read() as session:
        row = session.query(Token).one()
        assert row.token_hash == hash_token(token)
        assert token not in (row.token_hash, row.prefix)
    with db.reader() as reader:
        principal, _ = authenticate(reader, token, now=datetime.now(UTC))
    db.dispose()
    assert principal is not None and principal.profile == "okta"


def test_token_list_and_revoke(env: dict[str, str]) -> None:
    run(env, "db", "upgrade")
    token = run(env, "token", "create", "entra")[1].strip().splitlines()[-1]
    code, out = run(env, "token", "list")
    assert code == 0 and "entra" in out and token not in out and "active" in out
    assert run(env, "token", "revoke", "entra")[0] == 0
    assert "revoked" in run(env, "token", "list")[1]
    code, out = run(env, "token", "revoke", "nobody")
    assert code != 0 and "no token named 'nobody'" in out


def test_duplicate_token_name_is_refused_with_the_fix(env: dict[str, str]) -> None:
    run(env, "db", "upgrade")
    run(env, "token", "create", "okta")
    code, out = run(env, "token", "create", "okta")
    assert code != 0 and "already exists" in out and "token rotate okta" in out


def test_config_show_masks_secrets(env: dict[str, str]) -> None:
    env = {**env, "SCIM_BRIDGE_DINGTALK_APP_SECRET": "very-secret-value"}
    code, out = run(env, "config", "show")
    assert code == 0
    assert "very-secret-value" not in out
    assert "dingtalk_app_secret = ********" in out


def test_bad_setting_is_reported_with_the_variable_to_fix(env: dict[str, str]) -> None:
    code, out = run({**env, "SCIM_BRIDGE_PORT": "eighty"}, "config", "show")
    assert code != 0 and "SCIM_BRIDGE_PORT" in out


def test_worker_without_dingtalk_credentials_names_the_settings_to_set(
    env: dict[str, str],
) -> None:
    code, out = run(env, "worker")
    assert code != 0
    assert "SCIM_BRIDGE_DINGTALK_APP_KEY" in out and "SCIM_BRIDGE_DINGTALK_APP_SECRET" in out
