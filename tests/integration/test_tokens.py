"""Token rotation with an overlap, revocation, and the token commands (issue 9).

The clock is the app's injected one (create_app(clock=…)): a rotation's overlap ends at an
instant the test names, never after a sleep.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from scim_bridge.app import create_app
from scim_bridge.cli import main
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import Token
from scim_bridge.directory.tokens import (
    authenticate,
    create_token,
    hash_token,
    parse_duration,
    revoke_token,
    rotate_token,
)
from scim_bridge.errors import ConfigError
from scim_bridge.settings import Settings, load_settings

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
USER = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ann@example.com"}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def status(settings: Settings, database: Database, clock: Clock) -> Callable[[str], int]:
    """GET /Users with a bearer token at the clock's time; return the status."""
    client = create_app(settings, db=database, clock=clock).test_client()

    def get(value: str) -> int:
        response = client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {value}"})
        return int(response.status_code)

    return get


def make(database: Database, name: str = "okta", **kwargs: Any) -> str:
    with database.write() as session:
        return create_token(session, name, now=T0, **kwargs)[1]


def rotate(database: Database, name: str, overlap: timedelta, now: datetime = T0) -> str:
    with database.write() as session:
        return rotate_token(session, name, overlap=overlap, now=now)[1]


# --- rotation --------------------------------------------------------------------------------


def test_the_old_value_works_until_the_overlap_ends_then_stops(
    database: Database, clock: Clock, status: Callable[[str], int]
) -> None:
    old = make(database)
    new = rotate(database, "okta", timedelta(hours=24))
    assert new != old
    clock.now = T0 + timedelta(hours=23, minutes=59)
    assert status(old) == 200 and status(new) == 200
    clock.now = T0 + timedelta(hours=24)
    assert status(old) == 401
    assert status(new) == 200


def test_rotation_keeps_the_token_row_its_idp_profile_and_flags(
    settings: Settings, database: Database, clock: Clock
) -> None:
    old = make(database, "migrate", idp="okta-prod", profile="okta", shared=True, read_only=True)
    with database.read() as session:
        before = session.scalars(select(Token)).one()
    new = rotate(database, "migrate", timedelta(hours=1))
    with database.read() as session:
        after = session.scalars(select(Token)).one()
    assert (after.id, after.name, after.idp, after.profile, after.shared, after.read_only) == (
        before.id,
        "migrate",
        "okta-prod",
        "okta",
        True,
        True,
    )
    # Only hashes are stored: the new value's, and the replaced one's for the overlap.
    assert after.token_hash == hash_token(new) and after.previous_hash == hash_token(old)
    assert new not in (after.prefix, after.token_hash) and after.prefix == new[:8]
    with database.reader() as reader:
        by_old, _ = authenticate(reader, old, now=T0)
        by_new, _ = authenticate(reader, new, now=T0)
    assert by_old == by_new
    assert by_new is not None and by_new.scope is None and by_new.read_only


def test_resources_created_with_the_old_value_are_the_new_values(
    settings: Settings, database: Database, clock: Clock
) -> None:
    old = make(database, "okta", idp="idp-a")
    client = create_app(settings, db=database, clock=clock).test_client()
    created = client.post("/scim/v2/Users", json=USER, headers={"Authorization": f"Bearer {old}"})
    assert created.status_code == 201
    new = rotate(database, "okta", timedelta(hours=1))
    got = client.get(
        f"/scim/v2/Users/{created.get_json()['id']}", headers={"Authorization": f"Bearer {new}"}
    )
    assert got.status_code == 200


def test_a_second_rotation_ends_the_first_old_value_at_once(
    database: Database, clock: Clock, status: Callable[[str], int]
) -> None:
    first = make(database)
    second = rotate(database, "okta", timedelta(hours=24))
    third = rotate(database, "okta", timedelta(hours=24), now=T0 + timedelta(hours=1))
    clock.now = T0 + timedelta(hours=2)
    assert status(first) == 401
    assert status(second) == 200 and status(third) == 200


def test_a_rotation_without_overlap_ends_the_old_value_at_once(
    database: Database, status: Callable[[str], int]
) -> None:
    old = make(database)
    new = rotate(database, "okta", timedelta(0))
    assert status(old) == 401 and status(new) == 200


def test_revoking_a_rotated_token_refuses_both_values(
    database: Database, clock: Clock, status: Callable[[str], int]
) -> None:
    old = make(database)
    new = rotate(database, "okta", timedelta(hours=24))
    clock.now = T0 + timedelta(minutes=5)
    with database.write() as session:
        revoke_token(session, "okta", now=clock.now)
    assert status(old) == 401 and status(new) == 401
    with database.write() as session, pytest.raises(ConfigError, match="is revoked"):
        rotate_token(session, "okta", overlap=timedelta(hours=1), now=clock.now)


@pytest.mark.parametrize("overlap", [timedelta(seconds=-1), timedelta(days=366)])
def test_an_overlap_out_of_range_is_refused_and_changes_nothing(
    database: Database, status: Callable[[str], int], overlap: timedelta
) -> None:
    value = make(database)
    with database.write() as session, pytest.raises(ConfigError, match="overlap"):
        rotate_token(session, "okta", overlap=overlap, now=T0)
    assert status(value) == 200


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("90s", timedelta(seconds=90)),
        ("1.5", timedelta(hours=1.5)),
        (" 2H ", timedelta(hours=2)),
        ("0", timedelta(0)),
    ],
)
def test_overlap_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "h", "-1h", "1w", "1e9", "1000d", "24 hours"])
def test_bad_overlap_durations_name_the_fix(text: str) -> None:
    with pytest.raises(ConfigError, match=r"--overlap must be"):
        parse_duration(text)


def test_the_overlap_setting_is_validated() -> None:
    assert load_settings({}).token_rotation_overlap_hours == 24
    env = {"SCIM_BRIDGE_TOKEN_ROTATION_OVERLAP_HOURS": "2.5"}
    assert load_settings(env).token_rotation_overlap_hours == 2.5
    for bad in ("-1", "9000", "nan"):
        with pytest.raises(ConfigError, match="token_rotation_overlap_hours"):
            load_settings({"SCIM_BRIDGE_TOKEN_ROTATION_OVERLAP_HOURS": bad})


# --- the commands ----------------------------------------------------------------------------


def run(db_url: str, *args: str, **env: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env={"SCIM_BRIDGE_DATABASE_URL": db_url, **env})
    return result.exit_code, result.stdout, result.stderr


def test_token_commands_create_rotate_list_and_revoke(db_url: str, database: Database) -> None:
    code, out, err = run(db_url, "token", "create", "okta-prod", "--idp", "okta", "--read-only")
    assert code == 0, err
    first = out.strip().splitlines()[-1]
    code, out, err = run(db_url, "token", "create", "migrate", "--shared")
    assert code == 0, err
    code, out, err = run(db_url, "token", "rotate", "okta-prod", "--overlap", "2h")
    assert code == 0, err
    second = out.strip().splitlines()[-1]
    assert second.startswith("scb_") and second != first and "works until" in err
    code, listing, _ = run(db_url, "token", "list")
    assert code == 0
    assert first not in listing and second not in listing
    rows = {line.split()[0]: line for line in listing.splitlines()[1:]}
    assert rows["okta-prod"].split()[1:4] == ["okta", "auto", "read-only"]
    assert "active; old value until" in rows["okta-prod"]
    assert rows["migrate"].split()[1:4] == ["migrate", "auto", "shared"]
    now = datetime.now(UTC)
    with database.reader() as reader:
        assert authenticate(reader, first, now=now)[0] is not None
    assert run(db_url, "token", "revoke", "okta-prod")[0] == 0
    with database.reader() as reader:
        assert authenticate(reader, first, now=now)[0] is None
        assert authenticate(reader, second, now=now)[0] is None
    listing = run(db_url, "token", "list")[1]
    assert "old value until" not in listing and "revoked" in listing


def test_token_rotate_uses_the_overlap_setting(db_url: str, database: Database) -> None:
    run(db_url, "token", "create", "okta")
    code, _, err = run(
        db_url, "token", "rotate", "okta", SCIM_BRIDGE_TOKEN_ROTATION_OVERLAP_HOURS="0"
    )
    assert code == 0 and "stopped now" in err
    with database.read() as session:
        assert session.scalars(select(Token.previous_hash)).one() is None


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("token", "rotate", "nobody"), "no token named 'nobody'; `scim-bridge token list`"),
        (("token", "revoke", "nobody"), "no token named 'nobody'; `scim-bridge token list`"),
        (("token", "rotate", "okta", "--overlap", "soon"), "like 30m, 24h or 7d"),
        (("token", "create", "okta"), "`scim-bridge token rotate okta`"),
        (("token", "create", "x", "--idp", " "), "--idp must be 1-128 characters"),
    ],
)
def test_token_command_errors_are_one_line_naming_the_fix(
    db_url: str, database: Database, args: tuple[str, ...], words: str
) -> None:
    run(db_url, "token", "create", "okta")
    with database.read() as session:
        before = [(t.name, t.token_hash, t.previous_hash) for t in session.scalars(select(Token))]
    code, out, err = run(db_url, *args)
    assert code != 0
    assert words in err and "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1
    with database.read() as session:
        after = [(t.name, t.token_hash, t.previous_hash) for t in session.scalars(select(Token))]
    assert after == before


def test_a_revoked_tokens_name_is_refused_naming_a_new_name_for_the_same_idp(
    db_url: str, database: Database
) -> None:
    assert run(db_url, "token", "create", "okta", "--idp", "okta-prod")[0] == 0
    assert run(db_url, "token", "revoke", "okta")[0] == 0
    code, out, err = run(db_url, "token", "create", "okta")
    assert code != 0 and out == ""
    (line,) = err.strip().splitlines()  # one line: what is wrong and the command that fixes it
    assert "token 'okta' was revoked on" in line
    assert "`scim-bridge token create okta-2 --idp okta-prod`" in line
    with database.read() as session:
        assert session.scalars(select(Token.name)).all() == ["okta"]  # nothing stored
    code, out, err = run(db_url, "token", "create", "okta-2", "--idp", "okta-prod")
    assert code == 0, err
    assert "IdP okta-prod" in err  # the new token sees the revoked one's resources
