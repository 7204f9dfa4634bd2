"""The SQLite file holds token hashes and personal data: only its owner may read it."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from scim_bridge.directory.db import Database, upgrade


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The common 022 umask, under which files are created world-readable by default."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def write_something(db: Database) -> None:
    with db.write() as session:
        session.execute(text("CREATE TABLE IF NOT EXISTS t (x INTEGER)"))
        session.execute(text("INSERT INTO t VALUES (1)"))


@pytest.mark.usefixtures("open_umask")
def test_a_new_database_and_its_wal_and_shm_are_private(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    db = Database(f"sqlite:///{path}")
    try:
        write_something(db)
        siblings = [path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}.writelock")]
        for file in siblings:
            assert file.exists(), file
            assert mode(file) == 0o600, f"{file.name} is {oct(mode(file))}"
    finally:
        db.dispose()


@pytest.mark.usefixtures("open_umask")
def test_db_upgrade_creates_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "migrated.db"
    upgrade(f"sqlite:///{path}")
    assert mode(path) == 0o600


def test_an_existing_readable_database_is_left_alone_but_warned_about_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "old.db"
    path.touch()
    path.chmod(0o644)
    caplog.set_level(logging.WARNING, logger="scim_bridge")
    for _ in range(2):
        Database(f"sqlite:///{path}").dispose()
    warnings = [r.getMessage() for r in caplog.records if "old.db" in r.getMessage()]
    assert len(warnings) == 1
    assert f"chmod 600 {path}" in warnings[0]
    assert mode(path) == 0o644  # the operator decides; we say how


def test_a_private_existing_database_raises_no_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "fine.db"
    path.touch()
    path.chmod(0o600)
    caplog.set_level(logging.WARNING, logger="scim_bridge")
    Database(f"sqlite:///{path}").dispose()
    assert not [r for r in caplog.records if "fine.db" in r.getMessage()]
