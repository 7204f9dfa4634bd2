"""`scim-bridge db copy` (SQLite -> PostgreSQL) and `db backup` with a restore drill (#14).

The copy must be exact: ids, audit hashes and links unchanged, so the audit chain verifies on
the destination and the bridge carries on there (new rows get new ids, not a collision).
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from scim_client import ScimClient
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from scim_bridge.app import create_app
from scim_bridge.cli import main
from scim_bridge.directory.copy import backup_sqlite, copy_database
from scim_bridge.directory.db import Database, normalise_url, upgrade
from scim_bridge.directory.models import Base
from scim_bridge.directory.tokens import create_token
from scim_bridge.errors import ConfigError
from scim_bridge.monitor.audit import verify
from scim_bridge.monitor.audit_chain import chain_pending
from scim_bridge.settings import Settings

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"


@pytest.fixture
def empty_postgres() -> Iterator[str]:
    """A new PostgreSQL database with no schema at all (the copy's destination)."""
    base = os.environ.get("SCIM_BRIDGE_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("SCIM_BRIDGE_TEST_POSTGRES_URL is not set (CI sets it)")
    admin_url = make_url(normalise_url(base))
    name = f"scim_bridge_copy_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield admin_url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def scim_on(url: str) -> tuple[Database, ScimClient]:
    """The API on ``url`` with a fresh shared token (it sees every IdP's resources)."""
    database = Database(url)
    with database.write() as session:
        name = f"t-{uuid.uuid4().hex[:6]}"
        _row, plaintext = create_token(session, name, shared=True, now=_now())
    app = create_app(Settings(database_url=url), db=database)
    return database, ScimClient(app.test_client(), plaintext)


def _now() -> datetime:
    return datetime.now(UTC)


def populate(scim: ScimClient, people: int) -> list[str]:
    """Users with mobiles, a group of half of them, and one user deleted; the live ids."""
    ids = []
    for n in range(people):
        mobile = {"value": f"+86 138 0013 {n:04d}", "type": "mobile"}
        body: dict[str, Any] = {
            "schemas": [USER_URN],
            "userName": f"p{n}@example.com",
            "name": {"givenName": "P", "familyName": str(n)},
            "phoneNumbers": [mobile],
        }
        answer = scim.post("/Users", body)
        assert answer.status_code == 201, answer.get_json()
        ids.append(answer.get_json()["id"])
    members = [{"value": i} for i in ids[: people // 2]]
    group = scim.post(
        "/Groups", {"schemas": [GROUP_URN], "displayName": "Sales", "members": members}
    )
    assert group.status_code == 201
    scim.delete(f"/Users/{ids[-1]}")
    return ids[:-1]


def counts(url: str) -> dict[str, int]:
    engine = create_engine(normalise_url(url))
    with engine.connect() as conn:
        out = {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
               for t in Base.metadata.sorted_tables}  # fmt: skip
    engine.dispose()
    return out


def test_copy_sqlite_to_postgresql_is_exact_and_the_bridge_carries_on(
    tmp_path: Path, empty_postgres: str
) -> None:
    source_url = f"sqlite:///{tmp_path / 'source.db'}"
    upgrade(source_url)
    source_db, scim = scim_on(source_url)
    ids = populate(scim, 30)
    chain_pending(source_db, now=_now())
    before = scim.get(f"/Users/{ids[0]}").get_json()
    source_db.dispose()

    seen: list[tuple[str, int, int]] = []
    report = copy_database(source_url, empty_postgres, progress=lambda *a: seen.append(a))

    assert counts(empty_postgres) == counts(source_url) == report.rows
    assert report.rows["users"] == 29 and report.rows["audit_records"] > 30
    assert {t for t, _done, _total in seen} == set(report.rows)
    target_db, target = scim_on(empty_postgres)
    with target_db.read() as session:
        verdict = verify(session)
    assert verdict.problem is None and verdict.records == report.rows["audit_records"]
    assert target.get(f"/Users/{ids[0]}").get_json() == before  # same id, same meta, same ETag
    # Sequences moved past the copied ids: new writes get fresh ids, the chain goes on.
    extra = target.post("/Users", {"schemas": [USER_URN], "userName": "new@example.com"})
    assert extra.status_code == 201, extra.get_json()
    chain_pending(target_db, now=_now())
    with target_db.read() as session:
        assert verify(session).problem is None
    target_db.dispose()


def test_copy_refuses_a_destination_that_holds_data(tmp_path: Path) -> None:
    source_url = f"sqlite:///{tmp_path / 'source.db'}"
    target_url = f"sqlite:///{tmp_path / 'target.db'}"
    upgrade(source_url)
    upgrade(target_url)
    for url in (source_url, target_url):
        database, scim = scim_on(url)
        populate(scim, 2)
        database.dispose()
    before = counts(target_url)
    with pytest.raises(ConfigError, match="already holds data"):
        copy_database(source_url, target_url, progress=lambda *a: None)
    assert counts(target_url) == before


def test_copy_refuses_a_source_behind_the_code(tmp_path: Path) -> None:
    source_url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(source_url, "0004")
    result = CliRunner().invoke(main, ["db", "copy", source_url, f"sqlite:///{tmp_path / 't.db'}"])
    assert result.exit_code != 0
    assert "run `scim-bridge db upgrade` on the source first" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "t.db").exists()


def test_backup_while_writing_restores_to_a_working_verified_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    upgrade(url)
    database, scim = scim_on(url)
    populate(scim, 10)
    stop = threading.Event()
    written: list[int] = []

    def keep_writing() -> None:
        n = 0
        while not stop.is_set() and n < 200:
            answer = scim.post("/Users", {"schemas": [USER_URN], "userName": f"w{n}@example.com"})
            written.append(answer.status_code)
            n += 1

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        backup = tmp_path / "backup.db"
        size = backup_sqlite(url, backup)
    finally:
        stop.set()
        writer.join(timeout=60)
    assert size > 0 and oct(backup.stat().st_mode & 0o777) == "0o600"
    assert set(written) == {201}
    database.dispose()

    # The drill: the backup, put in place of a lost database, serves and verifies.
    restored = tmp_path / "restored.db"
    restored.write_bytes(backup.read_bytes())
    os.chmod(restored, 0o600)
    restored_db, restored_scim = scim_on(f"sqlite:///{restored}")
    listed = restored_scim.get("/Users?count=1").get_json()["totalResults"]
    assert 9 <= listed <= 9 + len(written)  # a consistent snapshot taken mid-stream
    chain_pending(restored_db, now=_now())
    with restored_db.read() as session:
        assert verify(session).problem is None
    restored_db.dispose()


def test_backup_refuses_postgresql_and_an_existing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="pg_dump"):
        backup_sqlite("postgresql+psycopg://u@127.0.0.1/db", tmp_path / "x.db")
    url = f"sqlite:///{tmp_path / 'live.db'}"
    upgrade(url)
    existing = tmp_path / "taken.db"
    existing.write_text("keep me")
    with pytest.raises(ConfigError, match="already exists"):
        backup_sqlite(url, existing)
    assert existing.read_text() == "keep me"
