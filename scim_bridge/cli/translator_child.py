"""`serve`'s translator: a process of its own beside the API, at a lower priority (issue 14).

On a thread of an API process the translator shares that process's GIL with its requests, and
no nice value helps with a lock: every change it projected took CPU the requests were waiting
for. In a process of its own the kernel schedules it, and its nice value (settings
``translator_nice``) makes every API process run first when the cores are short; it still naps
while any API process answers a request (sync/courtesy.py, over a count in shared memory).

gunicorn's arbiter forks it before its workers (`when_ready`), restarts it when it dies (a
SIGKILL, the out-of-memory killer), and stops it on the way out (`on_exit`). The child takes
the host's translator lock, as `scim-bridge worker` does, so a second translator on this host
waits instead of doubling the work; it ends when its parent is gone, never orphaned.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scim_bridge.monitor.api_load import InFlight
from scim_bridge.settings import Settings

log = logging.getLogger("scim_bridge.sync")

#: Seconds between two looks at the child, and between two tries of the host's lock.
POLL_SECONDS = 1.0
#: Restarts back off from one second to this, so a child that dies at once doesn't spin.
MOST_BACKOFF_SECONDS = 30.0
#: A child that lived this long counts as healthy: the next restart is quick again.
HEALTHY_SECONDS = 60.0
#: The signals gunicorn's arbiter handles; the child answers them as a plain process.
ARBITER_SIGNALS = ("SIGHUP", "SIGQUIT", "SIGINT", "SIGTTIN", "SIGTTOU", "SIGUSR1", "SIGUSR2",
                   "SIGWINCH", "SIGCHLD")  # fmt: skip


class TranslatorChild:
    """Fork, watch and stop the translator's process (from gunicorn's arbiter)."""

    def __init__(
        self,
        settings: Settings,
        *,
        in_flight: InFlight,
        metrics_dir: Path | None = None,
        inherited: Callable[[], list[int]] = list,
    ) -> None:
        self.settings = settings
        self.in_flight = in_flight
        self.metrics_dir = metrics_dir
        #: File descriptors of the arbiter the child must not keep (its sockets, its pipe).
        self.inherited = inherited
        self.pid: int | None = None
        self._stopping = threading.Event()
        # Held while forking and while stopping: a restart never races the way out.
        self._forking = threading.Lock()
        self._watcher: threading.Thread | None = None

    def start(self) -> None:
        """Fork the translator and watch it from a thread of this process."""
        if not self.settings.dingtalk_app_key:
            # Nothing to talk to yet: changes wait in the outbox (none is lost) until configured.
            log.warning(
                "DingTalk is not configured: set SCIM_BRIDGE_DINGTALK_APP_KEY and "
                "SCIM_BRIDGE_DINGTALK_APP_SECRET (or SCIM_BRIDGE_DINGTALK_BASE_URL=emulator); "
                "changes are kept in the outbox until then"
            )
            return
        self.pid = self._fork()
        self._watcher = threading.Thread(target=self._watch, name="translator-watch", daemon=True)
        self._watcher.start()

    def stop(self, timeout: float = 20.0) -> None:
        """Ask the translator to finish its change and stop; kill it after ``timeout``."""
        with self._forking:
            self._stopping.set()
            pid, self.pid = self.pid, None
        if pid is None:
            return
        _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            log.warning("the translator (pid %d) did not stop in %.0f s: killed", pid, timeout)
            _signal(pid, signal.SIGKILL)

    def _fork(self) -> int:
        pid = os.fork()
        if pid == 0:  # the child: never returns into gunicorn
            code = 1
            try:
                code = run_child(self.settings, self.in_flight, self.metrics_dir, self.inherited())
            except BaseException:
                log.exception("the translator's process failed")
            finally:
                os._exit(code)
        log.info("translator running in process %d (nice %d)", pid, self.settings.translator_nice)
        return pid

    def _watch(self) -> None:
        backoff, born = 1.0, time.monotonic()
        while not self._stopping.wait(POLL_SECONDS):
            pid = self.pid
            if pid is None or _alive(pid):
                continue
            if time.monotonic() - born > HEALTHY_SECONDS:
                backoff = 1.0
            log.warning("the translator's process %d ended; restarting it in %.0f s", pid, backoff)
            if self._stopping.wait(backoff):
                return
            backoff = min(backoff * 2, MOST_BACKOFF_SECONDS)
            born = time.monotonic()
            with self._forking:
                if self._stopping.is_set():
                    return
                self.pid = self._fork()


def run_child(
    settings: Settings, in_flight: InFlight, metrics_dir: Path | None, inherited: list[int]
) -> int:
    """The translator's process: its own signals, priority, database and lock; 0 when stopped."""
    from scim_bridge.bootstrap import BackgroundWorker, build_worker, open_database
    from scim_bridge.errors import ConfigError
    from scim_bridge.monitor.metrics import Metrics
    from scim_bridge.sync.courtesy import Courtesy
    from scim_bridge.sync.service import try_singleton_lock

    parent = os.getppid()
    stop = threading.Event()
    for name in ARBITER_SIGNALS:
        signal.signal(getattr(signal, name), signal.SIG_DFL)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    for fd in inherited:
        _close(fd)
    # Before any thread exists: the threads the worker starts inherit it (sched(7)).
    os.setpriority(os.PRIO_PROCESS, 0, max(os.getpriority(os.PRIO_PROCESS, 0),
                                          settings.translator_nice))  # fmt: skip
    lock = try_singleton_lock(settings)
    if lock is None:
        log.info("another process on this host translates for this database; waiting for it")
    while lock is None and not _wait(stop, parent):
        lock = try_singleton_lock(settings)
    if lock is None:
        return 0
    database = open_database(settings)
    try:
        metrics = Metrics(multiprocess_dir=metrics_dir) if metrics_dir is not None else None
        worker = build_worker(settings, database, metrics=metrics)
        worker.courtesy = Courtesy(busy=in_flight.busy, most=settings.translator_yield_ms / 1000.0)
        background = BackgroundWorker(settings, worker, lock=lock)
    except ConfigError as exc:  # a bad mapping file, an unsafe runtime directory: SCIM serves on
        log.error("the translator did not start: %s", exc)
        lock.release()
        database.dispose()
        return 2
    try:
        while not _wait(stop, parent):
            pass
        background.stop()
    finally:
        database.dispose()
    return 0


def _wait(stop: threading.Event, parent: int) -> bool:
    """Wait one poll; return whether to end (asked to stop, or the parent is gone)."""
    return stop.wait(POLL_SECONDS) or os.getppid() != parent


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs. gunicorn's arbiter reaps every child (waitpid(-1)), so
    either of us may have collected it."""
    try:
        done, _status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False  # reaped by the arbiter
    return done == 0


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _close(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


def arbiter_fds(arbiter: Any) -> list[int]:
    """The descriptors a gunicorn arbiter holds that its children must not: the listening
    sockets (a translator keeping the port bound would outlive a stopped server) and the
    arbiter's wake-up pipe."""
    fds = [listener.fileno() for listener in getattr(arbiter, "LISTENERS", [])]
    return fds + list(getattr(arbiter, "PIPE", []))
