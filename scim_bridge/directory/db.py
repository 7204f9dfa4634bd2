"""Engines, sessions and schema migrations for SQLite (default) and PostgreSQL (production)."""

from __future__ import annotations

import fcntl
import logging
import os
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from scim_bridge.directory import wal_checkpoint
from scim_bridge.directory.prepared import Cursor

SQLITE_BUSY_TIMEOUT_MS = 30_000
#: The SQLite file holds token hashes and personal data: its owner alone reads it. SQLite
#: creates the -wal and -shm files with the main file's permissions, so they follow.
PRIVATE_FILE_MODE = 0o600

log = logging.getLogger("scim_bridge.directory")
_warned_paths: set[str] = set()
_warned_lock = threading.Lock()


def normalise_url(url: str) -> str:
    """Return the SQLAlchemy URL to use: plain postgresql:// URLs get the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and enforced foreign keys."""
    url = normalise_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        sqlite_file = sqlite_path(url)
        if sqlite_file is not None:
            ensure_private_file(sqlite_file)
        # As many pooled connections as request threads: no connection (and no PRAGMAs) per
        # request when gunicorn runs 8 threads.
        kwargs.setdefault("pool_size", 16)
        kwargs.setdefault("max_overflow", 16)
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            **kwargs,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def sqlite_path(url: str) -> str | None:
    """Return the file of a SQLite URL, or None for an in-memory database."""
    database = make_url(normalise_url(url)).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


def ensure_private_file(path: str) -> None:
    """Create the SQLite file owner-only (0600), or warn once if an existing one is not."""
    try:
        # O_EXCL: only a file we create gets our mode; an empty file is a valid SQLite database.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
        return
    except FileExistsError:
        pass
    except OSError:
        return  # SQLite will say why it cannot open the file, with the path
    exposed = [
        f
        for f in (path, f"{path}-wal", f"{path}-shm")
        if os.path.exists(f) and stat.S_IMODE(os.stat(f).st_mode) & 0o077
    ]
    with _warned_lock:
        if not exposed or path in _warned_paths:
            return
        _warned_paths.add(path)
    log.warning(
        "the database file %s can be read or written by other users (it holds token hashes "
        "and personal data); fix it with: chmod 600 %s",
        path,
        " ".join(exposed),
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from pysqlite so the "begin" hook below decides.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Checkpoints run after the writer's turn (wal_checkpoint.py); SQLite's own, inside a
    # commit, only if those fall far behind.
    cursor.execute(f"PRAGMA wal_autocheckpoint={wal_checkpoint.BACKSTOP_PAGES}")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # A write transaction takes the write lock up front (BEGIN IMMEDIATE): a deferred one
    # that later upgrades from a read lock can fail at once with "database is locked",
    # whatever the busy timeout. Reads stay deferred and never block each other (WAL).
    options = conn.get_execution_options()
    mode = options.get("sqlite_begin", "DEFERRED")
    take_turn = options.get("writer_turn")
    if take_turn is not None:
        take_turn()
    # On the driver's connection: SQLAlchemy's execution path costs more than the BEGIN.
    conn.connection.driver_connection.execute(f"BEGIN {mode}")


class Database:
    """The engine plus the two ways in: a read session and a write transaction."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = normalise_url(url)
        self.engine = create_db_engine(self.url, **engine_kwargs)
        self.dialect = self.engine.dialect.name
        # A SQLite write transaction waits for the writer's turn just before its BEGIN
        # IMMEDIATE, i.e. at its first statement: what a request does before touching the
        # database (parsing, validating, hashing a password) never holds up other writers.
        writer = (
            self.engine.execution_options(sqlite_begin="IMMEDIATE", writer_turn=self._take_turn)
            if self.dialect == "sqlite"
            else self.engine
        )
        self._reads = sessionmaker(self.engine, expire_on_commit=False)
        self._writes = sessionmaker(writer, expire_on_commit=False)
        # Re-entrant, so a write opened inside another on the same thread fails in SQLite as
        # before (busy) instead of hanging here.
        self._writer_lock = threading.RLock()
        self._writer_depth = threading.local()
        self._writer_file: int | None = None
        self._checkpointer: wal_checkpoint.Checkpointer | None = None
        self._thread_reader = threading.local()
        database = sqlite_path(self.url) if self.dialect == "sqlite" else None
        if database:
            self._writer_file = os.open(
                f"{database}.writelock", os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE
            )
            self._checkpointer = wal_checkpoint.Checkpointer(database)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """Open a session for reading; its transaction is rolled back on exit."""
        with self._reads() as session:
            yield session

    @contextmanager
    def reader(self) -> Iterator[Cursor]:
        """Open a read transaction on a DBAPI connection, for ``Prepared`` statements (the
        request hot path; see prepared.py)."""
        if self.dialect != "sqlite":
            connection = self.engine.raw_connection()
            driver = connection.driver_connection
            assert driver is not None
            # Issue 14 (perf): under READ COMMITTED (PostgreSQL's default) every statement
            # takes its own snapshot, in a transaction or not (PostgreSQL docs, "Transaction
            # Isolation", 13.2.1): a transaction around a read adds a BEGIN and a ROLLBACK
            # round trip and no consistency, so reads run in autocommit. A stricter server
            # default keeps the transaction, and with it one snapshot for the whole read.
            solo = self.engine.dialect.default_isolation_level == "READ COMMITTED"
            if solo:
                driver.autocommit = True
            try:
                yield Cursor(driver, self.engine.dialect)
            finally:
                if solo and not driver.closed:
                    driver.autocommit = False  # what the pool's other users expect
                connection.close()  # back to the pool (which rolls back a transaction)
            return
        # SQLite: each thread keeps one connection for its reads (a local file has no network
        # to fail; checking a connection out of the pool and back costs more than the reads).
        local = self._thread_reader
        if getattr(local, "connection", None) is None:
            local.connection = self.engine.raw_connection()
        borrowed = getattr(local, "busy", False)  # a reader opened inside another one
        connection = self.engine.raw_connection() if borrowed else local.connection
        local.busy = True
        driver = connection.driver_connection
        assert driver is not None
        try:
            # pysqlite runs in autocommit here (see _sqlite_pragmas): one snapshot for every
            # statement of the request needs an explicit BEGIN.
            driver.execute("BEGIN")
            yield Cursor(driver, self.engine.dialect)
        finally:
            connection.rollback()
            if borrowed:
                connection.close()
            else:
                local.busy = False

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """Open one write transaction without a Session, for ``Prepared`` statements (the
        request hot path's writes): committed if the block succeeds, rolled back if not. On
        SQLite it begins, and waits for the writer's turn, at its first statement."""
        turns = getattr(self._writer_depth, "n", 0)
        connection = self.engine.raw_connection()
        driver = connection.driver_connection
        assert driver is not None

        def begin() -> None:
            if self.dialect == "sqlite":
                self._take_turn()
                driver.execute("BEGIN IMMEDIATE")  # see _sqlite_begin

        try:
            yield Cursor(driver, self.engine.dialect, begin=begin)
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
        finally:
            # The turn first: the transaction is over, and handing the connection back to the
            # pool (its reset included) needs no turn that every other write waits for.
            self._give_turns_back(turns)
            connection.close()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """Open one write transaction: committed if the block succeeds, rolled back if not."""
        turns = getattr(self._writer_depth, "n", 0)
        try:
            with self._writes() as session, session.begin():
                yield session
        finally:
            self._give_turns_back(turns)

    # On SQLite, writers queue here (threads, then processes) rather than in SQLite: SQLite
    # admits one writer and the others sleep in its busy handler with growing naps, which
    # puts seconds into the slowest writes under load. A lock hands the turn over at once.

    def _take_turn(self) -> None:
        """Wait for the writer's turn (called as a write transaction begins)."""
        if self._writer_file is None:
            return
        self._writer_lock.acquire()
        depth = getattr(self._writer_depth, "n", 0)
        if depth == 0:
            fcntl.flock(self._writer_file, fcntl.LOCK_EX)
        self._writer_depth.n = depth + 1

    def _give_turns_back(self, down_to: int) -> None:
        """Release the turns this thread took since it held ``down_to`` of them."""
        gave_back = False
        while getattr(self._writer_depth, "n", 0) > down_to:
            self._writer_depth.n -= 1
            if self._writer_depth.n == 0 and self._writer_file is not None:
                fcntl.flock(self._writer_file, fcntl.LOCK_UN)
                gave_back = True
            self._writer_lock.release()
        if gave_back and self._checkpointer is not None:
            self._checkpointer.after_write()  # outside the turn: no writer waits for it

    def dispose(self) -> None:
        """Close every pooled connection (and this thread's own reading connection)."""
        own = getattr(self._thread_reader, "connection", None)
        if own is not None:
            self._thread_reader.connection = None
            own.close()
        self.engine.dispose()
        if self._checkpointer is not None:
            self._checkpointer.close()
        if self._writer_file is not None:
            os.close(self._writer_file)
            self._writer_file = None


def alembic_config(url: str) -> Config:
    """Return an Alembic config pointing at our migrations and the given database."""
    cfg = Config()
    cfg.set_main_option(
        "script_location", str(resources.files("scim_bridge.directory").joinpath("migrations"))
    )
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Run the migrations up to ``revision`` (``scim-bridge db upgrade``)."""
    command.upgrade(alembic_config(url), revision)
