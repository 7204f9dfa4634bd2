"""The processes of the scale-out and reliability runs (issue 14): APIs on ports of their own
(so a killed one comes back where the clients look for it), the emulator and the preparation
in-process, and a PostgreSQL cluster of the run's own that it may crash and restart.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import requests
from e2e_harness import APP_KEY, APP_SECRET, Cluster, free_port, wait_until

from scim_bridge.dingtalk.emulator import EmulatorConfig, RunningEmulator, start_emulator
from scim_bridge.directory.db import Database, upgrade
from scim_bridge.directory.tokens import create_token


def in_process_emulator(config: EmulatorConfig) -> RunningEmulator:
    """The emulator on a thread of this process, with the cluster's credentials."""
    return start_emulator(replace(config, app_key=APP_KEY, app_secret=APP_SECRET))


def prepare_in_process(c: Cluster, emulator_url: str) -> None:
    """Point the cluster at the emulator at ``emulator_url``, migrate, and create the IdP's token.

    What `db upgrade` and `token create` do, without two interpreter start-ups (on a busy
    two-core runner those cost more than the scenario itself)."""
    c.emulator_url = emulator_url
    upgrade(c.database_url)
    db = Database(c.database_url)
    try:
        with db.write() as session:
            _row, c.token = create_token(session, "e2e-idp", now=datetime.now(UTC))
    finally:
        db.dispose()


def stop_all(c: Cluster) -> None:
    """SIGKILL every process of the cluster (the test is over; nothing to shut down cleanly)."""
    for name in list(c.procs):
        c.kill(name)


def start_api_on(c: Cluster, name: str, port: int, *args: str) -> None:
    """Start (or restart) `scim-bridge serve` on ``port`` and wait until it answers."""
    c.start(name, "serve", "--port", str(port), "--workers", "1", "--no-worker", *args)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: requests.get(f"{url}/healthz", timeout=2).ok, timeout=90, what=name)


def start_apis(c: Cluster, count: int) -> list[str]:
    """Start ``count`` API processes at once; return their SCIM base URLs."""
    ports = [free_port() for _ in range(count)]
    for i, port in enumerate(ports):
        c.start(f"api{i + 1}", "serve", "--port", str(port), "--workers", "1", "--no-worker")
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    for i, url in enumerate(urls):
        wait_until(
            lambda url=url: requests.get(f"{url}/healthz", timeout=2).ok,
            timeout=90,
            what=f"api{i + 1}",
        )
    return [f"{url}/scim/v2" for url in urls]


class ThrowawayPostgres:
    """A PostgreSQL cluster of the test's own (initdb on a free port), so it may restart it.

    As .ci/run does: PostgreSQL refuses to run as root, so as root the cluster belongs to an
    unprivileged user (``scimci``, which .ci/run creates, else ``nobody``)."""

    def __init__(self) -> None:
        self.bin = _pg_bin()
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="scim-bridge-pg-"))
        self.data = self.dir / "data"
        self.user = None if os.geteuid() else _unprivileged_user()
        if self.user is not None:
            shutil.chown(self.dir, self.user)
        initdb = str(self.bin / "initdb")
        self._run(initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    @property
    def url(self) -> str:
        """The URL of its postgres database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        if self.user is not None:
            argv = ("runuser", "-u", self.user, "--", *argv)
        subprocess.run(argv, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        """Start it and wait until it accepts connections."""
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off "
            "-c max_connections=200"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.dir / "log"),
            "-w",
            "-o",
            options,
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop it (``immediate``: as a crash would)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        """Stop it as a crash would and start it again."""
        self.stop("immediate")
        self.start()

    def remove(self) -> None:
        """Stop it if running and delete its files."""
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if found:
        return found[-1].parent
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).parent
    raise FileNotFoundError("PostgreSQL's server binaries (initdb, pg_ctl) are not installed")


def _unprivileged_user() -> str:
    import pwd

    for name in ("scimci", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise FileNotFoundError("no unprivileged user to run PostgreSQL as (root cannot)")


def pg_available() -> str | None:
    """None when a throwaway cluster can be made here, else why not."""
    try:
        _pg_bin()
        if os.geteuid() == 0:
            _unprivileged_user()
    except FileNotFoundError as exc:
        return str(exc)
    return None
