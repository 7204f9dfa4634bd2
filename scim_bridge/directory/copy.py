"""Copy a whole store to another database (`scim-bridge db copy`), and back up SQLite online.

Moving from SQLite to PostgreSQL (docs/operations.md) is a copy, not an export: every table
our migrations define, row for row, in foreign-key order, ids and audit hashes unchanged, so
the audit chain still verifies and every link still points at the same DingTalk record. The
source is read in one transaction (one consistent snapshot, even with writers running); the
destination must be empty, and is migrated to the same revision first.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, Table, func, select, text
from sqlalchemy.engine import make_url

from scim_bridge.directory.db import (
    alembic_config,
    create_db_engine,
    normalise_url,
    sqlite_path,
    upgrade,
)
from scim_bridge.directory.models import Base
from scim_bridge.errors import ConfigError

#: Rows per INSERT batch: big enough to amortise round trips, small enough for any driver.
BATCH = 1000

#: progress(table, rows copied so far, rows in the table)
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class CopyReport:
    """What was copied: rows per table, in the order copied."""

    revision: str
    rows: dict[str, int]


def copy_database(source_url: str, target_url: str, *, progress: Progress) -> CopyReport:
    """Copy every table of ``source_url`` into the empty database at ``target_url``."""
    source = create_db_engine(source_url)
    try:
        with source.connect() as src:
            revision = _revision_at_head(src, source_url)  # before the destination is touched
            if src.dialect.name == "postgresql":
                # One snapshot for every table (SQLite's read transaction is one already).
                src.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
            rows = _copy_into(src, target_url, revision, progress)
            src.rollback()
    finally:
        source.dispose()
    return CopyReport(revision=revision, rows=rows)


def _copy_into(
    src: Connection, target_url: str, revision: str, progress: Progress
) -> dict[str, int]:
    target = create_db_engine(target_url)
    try:
        with target.connect() as dst:
            _refuse_if_not_empty(dst)  # before migrating: never touch someone's data
        upgrade(target_url, revision)
        with target.begin() as dst:
            rows = {t.name: _copy_table(src, dst, t, progress) for t in _tables()}
            if dst.dialect.name == "postgresql":
                _advance_sequences(dst)
    finally:
        target.dispose()
    return rows


def _tables() -> list[Table]:
    # Parents before children: a row's foreign keys always find their target.
    return list(Base.metadata.sorted_tables)


def _revision_at_head(conn: Connection, url: str) -> str:
    current = MigrationContext.configure(conn).get_current_heads()
    heads = ScriptDirectory.from_config(alembic_config(url)).get_heads()
    if not current:
        raise ConfigError("the source database has no schema; check the source URL")
    if tuple(sorted(current)) != tuple(sorted(heads)):
        raise ConfigError(
            f"the source database is at {', '.join(current)}, this version expects "
            f"{', '.join(heads)}; run `scim-bridge db upgrade` on the source first"
        )
    return heads[0]


def _refuse_if_not_empty(dst: Connection) -> None:
    existing = MetaData()
    existing.reflect(dst)
    for table in existing.sorted_tables:
        if (
            table.name != "alembic_version"
            and dst.execute(select(func.count()).select_from(table)).scalar_one()
        ):
            raise ConfigError(
                f"the destination database already holds data (table {table.name}); "
                "copy into a new, empty database"
            )


def _copy_table(src: Connection, dst: Connection, table: Table, progress: Progress) -> int:
    total = src.execute(select(func.count()).select_from(table)).scalar_one()
    progress(table.name, 0, total)
    order = list(table.primary_key.columns) or list(table.columns)
    done = 0
    result = src.execution_options(yield_per=BATCH).execute(select(table).order_by(*order))
    for chunk in result.mappings().partitions(BATCH):
        dst.execute(table.insert(), [dict(row) for row in chunk])
        done += len(chunk)
        progress(table.name, done, total)
    return done


def _advance_sequences(dst: Connection) -> None:
    """Move each serial/identity sequence past the copied ids (explicit ids don't advance it)."""
    for table in _tables():
        for column in table.primary_key.columns:
            if column.autoincrement is False or column.type.python_type is not int:
                continue
            sequence = dst.execute(
                text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": column.name}
            ).scalar()
            if sequence is None:
                continue
            highest = dst.execute(select(func.max(column))).scalar() or 0
            dst.execute(text("SELECT setval(:s, :v, false)"), {"s": sequence, "v": highest + 1})


def backup_sqlite(database_url: str, destination: Path) -> int:
    """Copy a live SQLite database to ``destination`` with SQLite's online backup API.

    The backup is a consistent snapshot even while the bridge writes (sqlite3 backup restarts
    a page copy a writer changed); the file is created private (0600). Returns its size."""
    path = sqlite_path(database_url) if _is_sqlite(database_url) else None
    if path is None:
        raise ConfigError(
            "db backup copies a SQLite file; for PostgreSQL use pg_dump (docs/operations.md)"
        )
    try:
        os.close(os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        raise ConfigError(f"{destination} already exists; name a new file") from None
    except OSError as exc:
        raise ConfigError(
            f"cannot create {destination} ({exc.strerror}); choose another path"
        ) from None
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        target = sqlite3.connect(destination)
        try:
            source.backup(target)
        finally:
            target.close()
    finally:
        source.close()
    return destination.stat().st_size


def _is_sqlite(url: str) -> bool:
    return make_url(normalise_url(url)).get_backend_name() == "sqlite"
