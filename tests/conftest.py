"""Shared fixtures: real databases built by the migrations, the app, a token, a client.

Every test that takes ``db_url`` runs on SQLite and, when SCIM_BRIDGE_TEST_POSTGRES_URL names
a server (CI starts one), on PostgreSQL too.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from scim_bridge.app import create_app
from scim_bridge.directory.db import Database, normalise_url, upgrade
from scim_bridge.directory.tokens import create_token
from scim_bridge.settings import Settings

PG_ENV = "SCIM_BRIDGE_TEST_POSTGRES_URL"
TABLES = (
    "group_members",
    "user_values",
    "outbox",
    "groups",
    "users",
    "tokens",
    "links",
    "dead_letters",
    "sync_events",
    "bridge_state",
    "guard_removals",
    "audit_records",
    "audit_checkpoints",
    "admin_users",
    "login_failures",
    "console_actions",
)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated to head."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set (CI sets it); PostgreSQL tests skipped")
    admin_url = make_url(normalise_url(base))
    name = f"scim_bridge_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty, migrated database (SQLite, then PostgreSQL)."""
    if request.param == "sqlite":
        path = tmp_path / "scim.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    """A Database on the test URL."""
    db = Database(db_url)
    yield db
    db.dispose()


@pytest.fixture
def settings(db_url: str) -> Settings:
    """Settings pointing at the test database."""
    return Settings(database_url=db_url)


@pytest.fixture
def app(settings: Settings, database: Database) -> Any:
    """The Flask app on the test database."""
    return create_app(settings, db=database)


def make_token(database: Database, name: str = "test-idp", profile: str = "auto") -> str:
    """Create a token in the database and return its plaintext."""
    with database.write() as session:
        _row, plaintext = create_token(session, name, profile=profile, now=datetime.now(UTC))
    return plaintext


@pytest.fixture
def token(database: Database) -> str:
    """A valid bearer token."""
    return make_token(database)


class ScimClient:
    """The Flask test client with the bearer token and SCIM content type set."""

    def __init__(self, client: Any, token: str, user_agent: str = "pytest") -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}", "User-Agent": user_agent}

    def request(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        """Send a request to /scim/v2<path>."""
        h = {**self.headers, **headers}
        kwargs: dict[str, Any] = {"headers": h}
        if body is not None:
            kwargs["json"] = body
            h.setdefault("Content-Type", "application/scim+json")
        return self.client.open(f"/scim/v2{path}", method=method, **kwargs)

    def get(self, path: str, **headers: str) -> Any:
        """GET."""
        return self.request("GET", path, **headers)

    def post(self, path: str, body: Any, **headers: str) -> Any:
        """POST a JSON body."""
        return self.request("POST", path, body, **headers)

    def put(self, path: str, body: Any, **headers: str) -> Any:
        """PUT a JSON body."""
        return self.request("PUT", path, body, **headers)

    def patch(self, path: str, body: Any, **headers: str) -> Any:
        """PATCH a JSON body."""
        return self.request("PATCH", path, body, **headers)

    def delete(self, path: str, **headers: str) -> Any:
        """DELETE."""
        return self.request("DELETE", path, **headers)


@pytest.fixture
def scim(app: Any, token: str) -> ScimClient:
    """A SCIM client authenticated with a generic token."""
    return ScimClient(app.test_client(), token)


@pytest.fixture
def scim_as(app: Any, database: Database) -> Any:
    """A factory: a SCIM client whose token has the given name and profile."""

    def make(name: str, profile: str = "auto", user_agent: str = "pytest") -> ScimClient:
        return ScimClient(app.test_client(), make_token(database, name, profile), user_agent)

    return make
