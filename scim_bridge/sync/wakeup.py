"""Waking the translator the moment a change commits (design.md: wake-up, not polling delay).

In one process the API sets an Event. Other processes on this host send one datagram to a
Unix socket named after the database, in the private runtime directory (runtime_files.py); on
PostgreSQL, LISTEN/NOTIFY reaches workers anywhere.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from pathlib import Path

from scim_bridge.directory.db import normalise_url
from scim_bridge.directory.outbox import NOTIFY_CHANNEL
from scim_bridge.errors import ConfigError
from scim_bridge.settings import Settings
from scim_bridge.sync.runtime_files import ensure_private_dir, instance_name, runtime_dir

#: sun_path holds 108 bytes on Linux, the terminating NUL included (unix(7)).
MAX_SOCKET_PATH = 107

log = logging.getLogger("scim_bridge.sync")


class Wakeup:
    """A resettable signal the worker sleeps on."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        """Wake the worker."""
        self._event.set()

    def wait(self, timeout: float) -> bool:
        """Sleep until woken or the timeout passes; return whether woken, and re-arm."""
        woken = self._event.wait(timeout)
        self._event.clear()
        return woken


def socket_path(settings: Settings) -> str:
    """Return the local wake-up socket of the worker serving this database."""
    return str(runtime_dir(settings) / f"{instance_name(settings.database_url)}.wake")


def notify_local(path: str) -> None:
    """Poke a worker on this host; silently nothing when none listens (rows wait for it)."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.setblocking(False)
        s.sendto(b"1", path)


class LocalListener:
    """Receive wake-up datagrams on the database's socket and set the Wakeup."""

    def __init__(self, path: str, wakeup: Wakeup) -> None:
        self.path = path
        self.wakeup = wakeup
        if len(os.fsencode(path)) > MAX_SOCKET_PATH:
            raise ConfigError(
                f"the wake-up socket {path} is longer than the {MAX_SOCKET_PATH} bytes a Unix "
                "socket path may have; set SCIM_BRIDGE_RUNTIME_DIR to a shorter directory"
            )
        ensure_private_dir(Path(path).parent)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        self._sock.bind(path)
        self._bound = os.stat(path).st_ino
        self._sock.settimeout(0.5)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wakeup-local", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._sock.recv(64)
            except TimeoutError:
                continue
            except OSError:
                return
            self.wakeup.set()

    def close(self) -> None:
        """Stop listening and remove the socket."""
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()
        # Only our own socket: a listener started after us may have bound the path again.
        with contextlib.suppress(FileNotFoundError):
            if os.stat(self.path).st_ino == self._bound:
                os.unlink(self.path)


class PostgresListener:
    """LISTEN on the outbox channel (PostgreSQL) and set the Wakeup on every NOTIFY."""

    def __init__(self, database_url: str, wakeup: Wakeup) -> None:
        self.url = normalise_url(database_url).replace("postgresql+psycopg://", "postgresql://")
        self.wakeup = wakeup
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wakeup-pg", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self.wakeup.set()
            except Exception as exc:  # the listener must outlive a database restart
                log.warning("LISTEN %s failed (%s); retrying in 1 s", NOTIFY_CHANNEL, exc)
                self._stop.wait(1.0)

    def close(self) -> None:
        """Stop listening."""
        self._stop.set()
        self._thread.join(timeout=3)
