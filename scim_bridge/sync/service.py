"""Assembling a worker from settings, and running it beside the API or on its own."""

from __future__ import annotations

import atexit
import json
import logging
import shlex
import subprocess
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from scim_bridge.dingtalk.client import DingTalkClient
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import DeadLetter
from scim_bridge.mapping.rules import load_rules, rules_path
from scim_bridge.settings import Settings, alert_environment
from scim_bridge.sync.runtime_files import SingletonLock, lock_path
from scim_bridge.sync.translator import Translator
from scim_bridge.sync.wakeup import LocalListener, PostgresListener, socket_path
from scim_bridge.sync.worker import Worker, WorkerConfig

log = logging.getLogger("scim_bridge.sync")


def utc_now() -> datetime:
    """Return the current time, timezone-aware UTC."""
    return datetime.now(UTC)


def build_worker(
    settings: Settings,
    db: Database,
    *,
    clock: Callable[[], datetime] = utc_now,
    client: DingTalkClient | None = None,
    config: WorkerConfig | None = None,
    environ: Mapping[str, str] | None = None,
) -> Worker:
    """Build a worker: the DingTalk client, the mapping rules and the translator.

    ``environ`` is the process environment the alert command's allow-list is taken from
    (settings.alert_environment reads os.environ when it is None)."""
    rules = load_rules(rules_path(settings))  # a bad file stops start-up, naming line and fix
    client = client or DingTalkClient.from_settings(settings)
    translator = Translator(db=db, client=client, rules=rules, clock=clock)
    config = config or WorkerConfig(
        threads=settings.sync_threads,
        max_attempts=settings.sync_max_attempts,
        backoff_base=settings.sync_backoff_base,
    )
    path = rules_path(settings)
    worker = Worker(
        db=db,
        translator=translator,
        clock=clock,
        config=config,
        rules_loader=lambda: load_rules(path),
    )
    if settings.alert_command:
        env = alert_environment(environ)
        worker.on_dead_letter.append(command_alert(settings.alert_command, env=env))
    return worker


def command_alert(command: str, *, env: Mapping[str, str]) -> Callable[[DeadLetter], None]:
    """Return a dead-letter hook that runs an operator's command with the letter as JSON.

    The command gets ``env`` and nothing else of ours: not the DingTalk app secret, not the
    database password (settings.alert_environment builds the allow-list)."""
    argv = shlex.split(command)
    child_env = dict(env)

    def alert(letter: DeadLetter) -> None:
        payload = {
            "event": "dead_letter",
            "resource_type": letter.resource_type,
            "resource_id": letter.resource_id,
            "reason": letter.reason,  # plain words: what happened and the fix
            "code": letter.code,
            "detail": letter.detail,  # DingTalk's own text, when it said something
            "attempts": letter.attempts,
        }
        subprocess.run(  # noqa: S603 - the operator's own configured command
            argv, input=json.dumps(payload).encode(), timeout=10, check=False, env=child_env
        )

    return alert


class BackgroundWorker:
    """A worker on a thread of this process, with its wake-up listeners (and the host's
    translator lock, when it was given one); it cleans up when stopped or the process exits."""

    def __init__(
        self, settings: Settings, worker: Worker, *, lock: SingletonLock | None = None
    ) -> None:
        self.worker = worker
        self._lock = lock
        self._stop = threading.Event()
        self._listeners: list[Any] = [LocalListener(socket_path(settings), worker.wakeup)]
        if worker.db.dialect == "postgresql":
            self._listeners.append(PostgresListener(settings.database_url, worker.wakeup))
        self._thread = threading.Thread(
            target=worker.run, args=(self._stop,), name="translator", daemon=True
        )
        self._thread.start()
        # A gunicorn worker ends with sys.exit(): remove the socket and the lock file then too.
        atexit.register(self.stop)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop and the listeners; remove the socket and the lock file."""
        atexit.unregister(self.stop)
        self._stop.set()
        self.worker.wakeup.set()
        self._thread.join(timeout)
        for listener in self._listeners:
            listener.close()
        self._listeners = []
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def try_singleton_lock(settings: Settings) -> SingletonLock | None:
    """Take this host's translator lock for the database; None if another process has it."""
    return SingletonLock.acquire(lock_path(settings))
