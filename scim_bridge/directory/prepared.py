"""Statements on the request hot path: SQLAlchemy Core compiled once per dialect and run on
the pooled DBAPI connection.

Every SCIM request authenticates, and the IdPs' commonest calls (GET by id, the ``userName eq``
existence check, a write and the document it answers with) each run a handful of small
statements. Through a Session each costs ~0.2 ms of Python (building the statement, its cache
key, the ORM result) where SQLite needs ~0.01 ms to run it. A ``Prepared`` statement keeps
SQLAlchemy's compiler and type conversions and drops the per-call work: the SQL text,
parameter order and conversions are worked out once per statement and dialect (and per list
length for ``IN``), and rows come back as plain tuples.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Executable

#: Longest ``IN`` list compiled on its own; longer lists are sent in chunks of this size.
MAX_IN_LIST = 500

_CONNECTION_KEY = "scim_bridge.raw_connection"

#: A statement, or a function building it for a dialect name (for dialect-specific SQL such as
#: INSERT … ON CONFLICT).
StatementSource = Executable | Callable[[str], Executable]


@dataclass(frozen=True)
class StoredResource:
    """The columns a SCIM document is rendered from (``representation``), without the ORM."""

    id: str
    data: dict[str, Any]
    version: int
    created: datetime
    last_modified: datetime


class Cursor:
    """A DBAPI connection inside a transaction, and its dialect: where Prepared statements run.

    Each statement gets a DBAPI cursor of its own, closed before the statement returns. When
    one cursor was kept for a whole Session (and so lived until the garbage collector freed
    the Session, in any thread, after its connection had gone back to the pool), POSTs under
    load failed now and then with SQLITE_MISUSE: a connection's cursors share its prepared
    statements, and pysqlite resets a cursor's last statement when the cursor goes.
    """

    def __init__(
        self, connection: Any, dialect: Dialect, *, begin: Callable[[], None] | None = None
    ) -> None:
        self.connection = connection
        self.dialect = dialect
        # Run before the first statement (Database.transaction: wait for the writer's turn).
        self._begin = begin
        #: Whether this transaction wrote outbox rows (outbox.mark_changed_on).
        self.outbox_touched = False

    @classmethod
    def of(cls, session: Session) -> Cursor:
        """Return a Cursor on a Session's own connection, inside its transaction: it sees what
        the session flushed, and what it writes commits or rolls back with the session."""
        # One per transaction: a write asks for it several times.
        cached = cls.cached(session)
        if cached is not None:
            return cached
        connection = session.connection()
        dbapi = connection.connection.dbapi_connection
        assert dbapi is not None
        cur = cls(dbapi, connection.dialect)
        session.info[_CONNECTION_KEY] = (session.get_transaction(), cur)
        return cur

    @staticmethod
    def cached(session: Session) -> Cursor | None:
        """Return the Cursor ``of`` gave for the session's current transaction, if any."""
        cached = session.info.get(_CONNECTION_KEY)
        transaction = session.get_transaction()
        if cached is None or transaction is None or cached[0] is not transaction:
            return None
        cur: Cursor = cached[1]
        return cur

    @property
    def unstarted(self) -> bool:
        """Whether the transaction is still to begin at the next statement (SQLite: the
        writer's turn not taken yet, see Database.transaction)."""
        return self._begin is not None

    def run(
        self, sql: str, parameters: Any = None, *, many: bool = False, begin: bool = True
    ) -> tuple[list[Any], int]:
        """Execute one statement; return its rows (if any) and the rows it touched.

        ``begin=False`` runs it without beginning an unstarted transaction: on SQLite an
        autocommit read of its own, before the writer's turn (``Prepared.peek``)."""
        if begin and self._begin is not None:
            starting, self._begin = self._begin, None
            starting()
        cursor = self.connection.cursor()
        try:
            if many:
                cursor.executemany(sql, parameters)
            elif parameters is None:
                cursor.execute(sql)
            else:
                cursor.execute(sql, parameters)
            rows = cursor.fetchall() if cursor.description is not None else []
            return rows, int(cursor.rowcount)
        finally:
            cursor.close()


class _Compiled:
    """One statement's SQL for one dialect (and ``IN`` list length), with its conversions."""

    def __init__(self, stmt: Any, dialect: Dialect, lists: dict[str, list[str]]) -> None:
        compiled = stmt.compile(dialect=dialect)
        # The caller's values are not known yet: a placeholder for each required parameter.
        unset = {b.key: None for b in compiled.binds.values() if b.required and not b.expanding}
        # construct_expanded_state is SQLAlchemy's own rendering of "expanding" IN parameters
        # into one placeholder per element; it also returns the values written into the
        # statement (``kind == "user"`` is a bind parameter too) and their bind processors.
        state = compiled.construct_expanded_state({**unset, **lists})
        self.sql = state.statement
        self.positional = state.positiontup is not None
        self.names: list[str] = list(state.positiontup or ())
        self.defaults: dict[str, Any] = dict(state.parameters)
        self.binds: dict[str, Callable[[Any], Any]] = dict(state.processors)
        for name, bind in compiled.binds.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None and name in self.defaults:
                self.binds[name] = process
        columns = getattr(stmt, "selected_columns", ())
        self.results: list[Callable[[Any], Any] | None] = [
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        ]
        self.convert = any(self.results)

    def parameters(self, given: Mapping[str, Any]) -> Any:
        """Return the DBAPI parameters (a list or a dict, as the driver expects)."""
        params = {**self.defaults, **given}
        for name, process in self.binds.items():
            params[name] = process(params[name])
        return [params[n] for n in self.names] if self.positional else params

    def converted(self, rows: list[Any]) -> list[tuple[Any, ...]]:
        """Convert fetched rows to Python values (JSON, datetimes, … as the ORM would)."""
        if not self.convert:
            return [tuple(row) for row in rows]
        procs = self.results
        return [
            tuple(v if p is None or v is None else p(v) for p, v in zip(procs, row, strict=True))
            for row in rows
        ]


class Prepared:
    """A Core statement with named bind parameters, compiled on first use for each dialect.

    ``expanding`` names the one parameter (if any) that takes a list (``IN``): the statement
    is then compiled once per list length, with one placeholder per element.
    """

    def __init__(self, source: StatementSource, *, expanding: str | None = None) -> None:
        self.source = source
        self.expanding = expanding
        self._compiled: dict[tuple[str, int], _Compiled] = {}

    def _for(self, dialect: Dialect, length: int = 0) -> _Compiled:
        key = (dialect.name, length)
        found = self._compiled.get(key)
        if found is None:
            source = self.source
            stmt = source if isinstance(source, Executable) else source(dialect.name)
            lists = {self.expanding: [""] * length} if self.expanding is not None else {}
            found = self._compiled[key] = _Compiled(stmt, dialect, lists)
        return found

    def _runs(self, cur: Cursor, params: dict[str, Any]) -> Iterator[tuple[_Compiled, Any]]:
        """The statement and parameters to send: one, or one per chunk of the IN list."""
        if self.expanding is None:
            compiled = self._for(cur.dialect)
            yield compiled, compiled.parameters(params)
            return
        values = list(params.pop(self.expanding))
        for start in range(0, len(values), MAX_IN_LIST):
            chunk = values[start : start + MAX_IN_LIST]
            compiled = self._for(cur.dialect, len(chunk))
            named = dict(params)
            # SQLAlchemy names the elements <param>_1, <param>_2, …
            for i, value in enumerate(chunk, 1):
                named[f"{self.expanding}_{i}"] = value
            yield compiled, compiled.parameters(named)

    def rows(self, cur: Cursor, **params: Any) -> list[tuple[Any, ...]]:
        """Run a query and return its rows; an ``IN`` list is sent in chunks."""
        return self._query(cur, params, begin=True)

    def peek(self, cur: Cursor, **params: Any) -> list[tuple[Any, ...]]:
        """Run a query without beginning the cursor's transaction if it has not begun
        (Cursor.unstarted): a snapshot read of its own, which takes no writer's turn."""
        return self._query(cur, params, begin=False)

    def _query(self, cur: Cursor, params: dict[str, Any], *, begin: bool) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        for compiled, parameters in self._runs(cur, params):
            out.extend(compiled.converted(cur.run(compiled.sql, parameters, begin=begin)[0]))
        return out

    def execute(self, cur: Cursor, **params: Any) -> int:
        """Run a statement that returns no rows; return the number of rows it touched."""
        return sum(
            cur.run(compiled.sql, parameters)[1] for compiled, parameters in self._runs(cur, params)
        )

    def execute_many(self, cur: Cursor, rows: Iterable[Mapping[str, Any]]) -> None:
        """Run a statement once per parameter set, in one DBAPI call."""
        compiled = self._for(cur.dialect)
        batch = [compiled.parameters(row) for row in rows]
        if batch:
            cur.run(compiled.sql, batch, many=True)


def integrity_errors(dialect: Dialect) -> tuple[type[Exception], ...]:
    """The errors a broken constraint raises: SQLAlchemy's (Sessions) and the driver's own
    (PEP 249; ``Prepared`` statements run on the DBAPI connection)."""
    return (IntegrityError, dialect.loaded_dbapi.IntegrityError)


def one(rows: Sequence[tuple[Any, ...]]) -> tuple[Any, ...] | None:
    """Return the only row, or None."""
    return rows[0] if rows else None
