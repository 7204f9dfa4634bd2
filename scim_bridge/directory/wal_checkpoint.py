"""SQLite's WAL checkpoints, run after a write gives the writer's turn back (issue 14).

In WAL mode SQLite appends each commit's pages to the -wal file and, by default, the commit
that grows it past 1,000 pages copies them back into the database file and syncs it
(``wal_autocheckpoint``). That commit belongs to whichever request happens to cross the line,
and it runs while the request holds the one writer's turn every other write waits for. A
SCIM POST touches some 30 pages (the row, its values, the outbox, the audit record and their
indexes), so every 30th or so paid a checkpoint: 0.65 ms per POST on average, the p99 from
4 ms to 20 ms, all of it serial.

Here each process checkpoints on a connection of its own, PASSIVE (it waits for no reader or
writer, and no writer waits for it), after every ``EVERY`` of its write transactions, once the
turn is given back: the thread that finished that write pays for it, no other writer does.
SQLite's own autocheckpoint stays as a backstop at ``BACKSTOP_PAGES``, in case nothing here
runs for a long time.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading

log = logging.getLogger("scim_bridge.directory")

#: Write transactions of this process between two checkpoints (~2,000 pages of SCIM POSTs).
#: Every 16th made the writes themselves slower (1.9 ms in the turn against 1.5 ms): each
#: finished checkpoint restarts the WAL, and the writers' page caches start cold.
EVERY = 64
#: SQLite's autocheckpoint on our connections: far above what the checkpoints here leave.
BACKSTOP_PAGES = 10_000


class Checkpointer:
    """Checkpoints one SQLite file now and then; one per Database, safe across fork."""

    def __init__(self, path: str, *, every: int = EVERY) -> None:
        self.path = path
        self.every = every
        self._counting = threading.Lock()
        self._writes = 0
        self._busy = threading.Lock()  # one checkpoint at a time in this process
        self._connection: sqlite3.Connection | None = None
        self._pid = 0

    def after_write(self) -> None:
        """Count a finished write transaction; checkpoint on every ``every``-th.

        A thread that finds another checkpointing goes on: the WAL is being copied already."""
        with self._counting:
            self._writes += 1
            if self._writes < self.every:
                return
            self._writes = 0
        self.checkpoint()

    def checkpoint(self) -> None:
        """Copy what the WAL holds into the database, without waiting for anyone."""
        if not self._busy.acquire(blocking=False):
            return
        try:
            connection = self._own_connection()
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:  # the next write tries again; the backstop is SQLite's
            log.debug("WAL checkpoint of %s skipped: %s", self.path, exc)
        finally:
            self._busy.release()

    def _own_connection(self) -> sqlite3.Connection:
        # A connection opened before a fork (gunicorn's preload) is the parent's: open anew.
        if self._connection is None or self._pid != os.getpid():
            self._connection = sqlite3.connect(self.path, check_same_thread=False)
            self._connection.execute("PRAGMA busy_timeout=0")  # PASSIVE never waits anyway
            self._pid = os.getpid()
        return self._connection

    def close(self) -> None:
        """Close this process's checkpoint connection."""
        with self._busy:
            if self._connection is not None and self._pid == os.getpid():
                self._connection.close()
            self._connection = None
