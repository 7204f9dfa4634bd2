"""A stopped worker leaves nothing running: its process disposes of the database next, and a
job still holding a pooled connection would orphan it (psycopg: "deleted while still open")."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session

from scim_bridge.bootstrap import build_worker
from scim_bridge.directory.db import Database
from scim_bridge.settings import Settings
from scim_bridge.sync.worker import WorkerConfig

LOOP = "worker-under-test"


class SlowHeartbeat(Database):
    """A database whose writes from the scheduler's jobs take a second (a loaded host)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.slow_writes_begun = threading.Event()

    @contextmanager
    def write(self) -> Iterator[Session]:
        with super().write() as session:
            if threading.current_thread().name.startswith("ThreadPoolExecutor"):
                self.slow_writes_begun.set()
                time.sleep(1.0)
            yield session


def test_run_returns_once_the_jobs_in_flight_have_finished(
    settings: Settings, db_url: str, worker: Any
) -> None:
    slow = SlowHeartbeat(db_url)
    looping = build_worker(
        settings, slow, client=worker.translator.client, config=WorkerConfig(threads=1)
    )
    before = set(threading.enumerate())
    stop = threading.Event()
    loop = threading.Thread(target=looping.run, args=(stop,), name=LOOP, daemon=True)
    loop.start()
    try:
        assert slow.slow_writes_begun.wait(10), "no scheduled job wrote (the heartbeat runs first)"
        stop.set()
        looping.wakeup.set()
        loop.join(15)
        assert not loop.is_alive()
        # Nothing the run started is still going once it has returned (the emulator's own
        # threads, serving the client's keep-alive connections, are the emulator's).
        started = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        assert [t.name for t in started if "process_request_thread" not in t.name] == []
    finally:
        stop.set()
        loop.join(15)
        slow.dispose()
