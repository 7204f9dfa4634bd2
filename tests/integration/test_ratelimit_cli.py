"""`scim-bridge token limit`, `token create --rate …` and the rate-limit settings (issue 14)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from scim_bridge.cli.root import main
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import Token
from scim_bridge.directory.tokens import authenticate
from scim_bridge.errors import ConfigError
from scim_bridge.settings import load_settings


def run(db_url: str, *args: str, **env: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env={"SCIM_BRIDGE_DATABASE_URL": db_url, **env})
    return result.exit_code, result.stdout, result.stderr


def limits_of(database: Database, name: str) -> tuple[float | None, int | None, int | None]:
    with database.read() as session:
        row = session.scalar(select(Token).where(Token.name == name))
        assert row is not None
        return row.rate_per_second, row.rate_burst, row.max_concurrent


def test_token_limit_sets_shows_and_resets_a_tokens_own_limits(
    db_url: str, database: Database
) -> None:
    code, out, err = run(db_url, "token", "create", "okta", "--rate", "5", "--burst", "10")
    assert code == 0, err
    plaintext = out.strip().splitlines()[-1]
    assert limits_of(database, "okta") == (5, 10, None)
    with database.reader() as reader:
        principal, _ = authenticate(reader, plaintext, now=datetime.now(UTC))
    assert principal is not None
    assert (principal.rate_per_second, principal.rate_burst, principal.max_concurrent) == (
        5,
        10,
        None,
    )
    code, out, err = run(
        db_url, "token", "limit", "okta", "--max-concurrent", "3", SCIM_BRIDGE_SCIM_RATE_BURST="7"
    )
    assert code == 0, err
    assert out.strip() == "token 'okta': rate 5/s, burst 10, concurrent 3"
    code, out, err = run(db_url, "token", "limit", "okta", "--reset")
    assert code == 0, err
    assert out.strip() == (
        "token 'okta': rate unlimited (default), burst 100 (default), concurrent no cap (default)"
    )
    assert limits_of(database, "okta") == (None, None, None)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--rate", "-1"), "--rate must be between 0"),
        (("--burst", "0"), "--burst must be between 1"),
        (("--max-concurrent", "-2"), "--max-concurrent must be between 0"),
    ],
)
def test_a_bad_limit_is_a_one_line_error_and_stores_nothing(
    db_url: str, database: Database, args: tuple[str, str], named: str
) -> None:
    run(db_url, "token", "create", "okta")
    code, _out, err = run(db_url, "token", "limit", "okta", *args)
    assert code != 0
    assert named in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert limits_of(database, "okta") == (None, None, None)
    code, _out, err = run(db_url, "token", "create", "entra", *args)
    assert code != 0 and named in err
    with database.read() as session:
        assert session.scalar(select(Token).where(Token.name == "entra")) is None


def test_token_limit_names_an_unknown_token(db_url: str) -> None:
    code, _out, err = run(db_url, "token", "limit", "nobody", "--rate", "1")
    assert code != 0
    assert "no token named 'nobody'" in err


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("scim_rate_per_second", "-1"),
        ("scim_rate_per_second", "nan"),
        ("scim_rate_per_second", "fast"),
        ("scim_rate_burst", "0"),
        ("scim_max_concurrent", "-1"),
    ],
)
def test_a_bad_rate_limit_setting_names_the_setting(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"setting {name} .*SCIM_BRIDGE_{name.upper()}"):
        load_settings({f"SCIM_BRIDGE_{name.upper()}": value})


def test_the_rate_limit_settings_load_from_the_environment() -> None:
    settings = load_settings(
        {
            "SCIM_BRIDGE_SCIM_RATE_PER_SECOND": "20",
            "SCIM_BRIDGE_SCIM_RATE_BURST": "40",
            "SCIM_BRIDGE_SCIM_MAX_CONCURRENT": "4",
        }
    )
    assert (
        settings.scim_rate_per_second,
        settings.scim_rate_burst,
        settings.scim_max_concurrent,
    ) == (20, 40, 4)
