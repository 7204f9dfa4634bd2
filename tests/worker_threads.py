"""Running a worker's loop in a test: stopped, and every thread it started finished, before
the test's database is disposed.

A job still running when the database is disposed holds a pooled connection that the disposed
pool never closes; psycopg then warns "connection deleted while still open" when the garbage
collector frees it, during whichever later test it runs in, and that test fails with
PytestUnraisableExceptionWarning (filterwarnings = error). ``Worker.run`` waits for its jobs
and its start-up re-projection before it returns (sync/schedule.py ``stop_jobs``, bounded by
its grace); these helpers check that nothing is left, and say what if something is.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from scim_bridge.sync.worker import Worker


@contextmanager
def threads_joined(timeout: float = 30.0) -> Iterator[None]:
    """Wait, on the way out, for every thread started inside the block to finish."""
    before = set(threading.enumerate())
    try:
        yield
    finally:
        deadline = time.monotonic() + timeout
        started = [t for t in threading.enumerate() if t not in before]
        for thread in started:
            thread.join(max(0.0, deadline - time.monotonic()))
    alive = [t.name for t in started if t.is_alive()]
    assert not alive, f"still running {timeout:.0f} s after the block ended: {alive}"


@contextmanager
def running(
    worker: Worker, *, name: str = "translator", timeout: float = 30.0
) -> Iterator[threading.Thread]:
    """Run ``worker``'s loop on a thread for the block; then stop it and wait for it and for
    every thread it started (its scheduler's jobs, its start-up re-projection)."""
    stop = threading.Event()
    loop = threading.Thread(target=worker.run, args=(stop,), name=name, daemon=True)
    with threads_joined(timeout):
        loop.start()
        try:
            yield loop
        finally:
            stop.set()
            worker.wakeup.set()
