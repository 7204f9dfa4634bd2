"""One translation of a resource at a time across every worker process (issue 14).

A claim's lease (sync/claims.py) says who should work on a row, but a lease can lapse under
work still in progress: a host too busy to run the heartbeat in time, a database restarting.
Another worker then claims the row, and two translations of one person run at once; the one
that read the older state may write it to DingTalk last, a lost update DingTalk cannot fence
(its API takes no version). So on PostgreSQL each translation also holds a session advisory
lock named after the resource, on a connection of its own, for as long as it runs. A process
that dies loses its connections and PostgreSQL lets go of their locks at once, so a lock never
outlives its holder the way a lease must wait out its term. SQLite needs none: one host, and
the worker's own loop never claims a row it is still working on.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

from scim_bridge.directory.db import Database

log = logging.getLogger("scim_bridge.sync")


def lock_key(resource_type: str, resource_id: str) -> int:
    """Return the advisory lock key of one resource: 64 bits of its name's hash, signed."""
    digest = hashlib.blake2b(f"{resource_type}:{resource_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextmanager
def translating(db: Database, resource_type: str, resource_id: str) -> Iterator[bool]:
    """Hold the resource's translation lock for the block; yield False if another holds it."""
    if db.dialect != "postgresql":
        yield True
        return
    key = {"key": lock_key(resource_type, resource_id)}
    with db.engine.connect() as conn:
        got = bool(conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), key))
        conn.commit()  # the lock is the session's, not the transaction's
        try:
            yield got
        finally:
            if got:
                try:
                    conn.scalar(text("SELECT pg_advisory_unlock(:key)"), key)
                    conn.commit()
                except Exception:  # the database went away: so did the lock, with the session
                    log.warning("releasing the translation lock of %s failed", resource_id)
                    conn.invalidate()  # never back to the pool holding a lock
