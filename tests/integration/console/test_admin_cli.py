"""`scim-bridge admin` and `scim-bridge demo` as an operator runs them (issue 13)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from werkzeug.serving import make_server

from scim_bridge.app import create_app
from scim_bridge.cli import main
from scim_bridge.cli.demo_company import make_company
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import AdminUser, Group, User
from scim_bridge.settings import Settings

GOOD = "a long enough password\n"


@pytest.fixture
def env(db_url: str) -> dict[str, str]:
    return {"SCIM_BRIDGE_DATABASE_URL": db_url}


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env=env, input=stdin)
    return result.exit_code, result.output


def test_admin_create_list_disable(env: dict[str, str], database: Database) -> None:
    code, out = run(env, "admin", "create", "ada", "--password-stdin", stdin=GOOD)
    assert code == 0, out
    code, out = run(
        env, "admin", "create", "vic", "--role", "viewer", "--password-stdin", stdin=GOOD
    )
    assert code == 0, out
    with database.read() as session:
        rows = {r.name: r for r in session.scalars(select(AdminUser))}
    assert rows["ada"].role == "admin" and rows["vic"].role == "viewer"
    assert rows["ada"].password_hash.startswith("scrypt$32768$8$1$")
    assert "a long enough password" not in rows["ada"].password_hash
    assert rows["ada"].password_hash != rows["vic"].password_hash  # a salt each
    code, out = run(env, "admin", "list")
    assert code == 0 and "ada" in out and "viewer" in out and "never" in out
    assert run(env, "admin", "disable", "vic")[0] == 0
    assert "disabled" in run(env, "admin", "list")[1]


@pytest.mark.parametrize(
    ("args", "stdin", "says"),
    [
        (("create", "ada"), GOOD, "--password-stdin"),
        (("create", "ada", "--password-stdin"), "short\n", "at least 12 characters"),
        (("create", "bad name!", "--password-stdin"), GOOD, "is not valid"),
        (("disable", "nobody"), None, "no admin named 'nobody'"),
    ],
)
def test_admin_mistakes_get_one_line_and_change_nothing(
    env: dict[str, str], database: Database, args: tuple[str, ...], stdin: str | None, says: str
) -> None:
    code, out = run(env, "admin", *args, stdin=stdin)
    assert code == 1 and says in out and "Traceback" not in out
    assert len(out.strip().splitlines()) == 1
    with database.read() as session:
        assert session.scalars(select(AdminUser)).all() == []


def test_a_second_admin_of_the_same_name_is_refused(env: dict[str, str]) -> None:
    run(env, "admin", "create", "ada", "--password-stdin", stdin=GOOD)
    code, out = run(env, "admin", "create", "ada", "--password-stdin", stdin=GOOD)
    assert code == 1 and "an admin named 'ada' exists" in out


@pytest.fixture
def live_server(settings: Settings, database: Database) -> Iterator[str]:
    """The app on a real HTTP server on 127.0.0.1; yields its SCIM base URL."""
    server = make_server("127.0.0.1", 0, create_app(settings, db=database), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}/scim/v2"
    server.shutdown()


def test_demo_pushes_a_company_with_departments_and_managers(
    env: dict[str, str], live_server: str, database: Database
) -> None:
    company = make_company(25)
    result = CliRunner().invoke(main, ["demo", "--url", live_server, "--people", "25"], env=env)
    assert result.exit_code == 0, result.output
    assert "users 20/25" in result.output  # progress
    with database.read() as session:
        users = session.scalars(select(User)).all()
        groups = {g.display_name for g in session.scalars(select(Group))}
    assert len(users) == 25
    assert groups == {p.department for p in company.people}
    managed = [u for u in users if u.manager_id]
    assert len(managed) == 24  # everyone but the CEO reports to someone
    # Running it again pushes the same company: nothing new, no error.
    again = CliRunner().invoke(main, ["demo", "--url", live_server, "--people", "25"], env=env)
    assert again.exit_code == 0, again.output
    with database.read() as session:
        assert len(session.scalars(select(User)).all()) == 25


def test_demo_without_a_server_says_what_to_do(env: dict[str, str]) -> None:
    code, out = run(env, "demo", "--url", "http://127.0.0.1:9/scim/v2", "--token", "x")
    assert code == 1 and "start the server first" in out


def test_the_sample_company_is_the_same_every_time() -> None:
    first, second = make_company(200), make_company(200)
    assert [p.mobile for p in first.people] == [p.mobile for p in second.people]
    assert len({p.mobile for p in first.people}) == 200
    assert all(p.mobile.isdigit() and len(p.mobile) == 11 for p in first.people)
