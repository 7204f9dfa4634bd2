"""`serve` spreads kept-alive connections over its API workers (issue 14, reads under load).

IdPs keep their connections open. On one listening socket shared by every worker, the worker
already on a CPU accepted a burst of new connections alone, and one benchmark run in six put
all 16 client connections on one worker: the API served on one core. Each worker now listens
on a socket of its own (SO_REUSEPORT) and the kernel spreads connections over them.

Real processes: `scim-bridge serve` under gunicorn, sockets read from /proc (Linux).
"""

from __future__ import annotations

import http.client
import os
from collections.abc import Iterable
from pathlib import Path

import pytest
from e2e_harness import cluster, wait_until
from test_serve_translator_process import children_of

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads sockets from /proc"),
]

#: tcp(7) states as /proc/net/tcp writes them.
ESTABLISHED, LISTEN = "01", "0A"


def sockets_on_port(port: int, state: str) -> set[int]:
    """Inodes of the TCP sockets whose local port is ``port``, in ``state``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == state:
                found.add(int(fields[9]))
    return found


def socket_inodes(pid: int) -> set[int]:
    """Inodes of the sockets process ``pid`` holds open."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed while we looked
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def held(pids: Iterable[int], port: int, state: str) -> dict[int, int]:
    """How many sockets on ``port`` in ``state`` each process holds."""
    wanted = sockets_on_port(port, state)
    return {pid: len(socket_inodes(pid) & wanted) for pid in pids}


def test_each_worker_listens_and_kept_alive_connections_reach_every_worker(
    tmp_path: Path,
) -> None:
    with cluster(tmp_path, f"sqlite:///{tmp_path / 'bridge.db'}") as c:
        c.prepare()
        base = c.start_api("api", "--workers", "2", "--threads", "1", "--no-worker")
        port = int(base.split(":")[2].split("/")[0])
        arbiter = c.procs["api"].pid
        wait_until(lambda: len(children_of(arbiter)) == 2, timeout=60, what="two workers")
        workers = sorted(children_of(arbiter))

        # A listening socket per worker, none shared, none left in the arbiter.
        listening = held([arbiter, *workers], port, LISTEN)
        assert listening == {arbiter: 0, workers[0]: 1, workers[1]: 1}, listening

        # 32 connections opened at once and kept alive, as an IdP's client pool keeps them:
        # each worker serves some (all on one worker: 2 x 2^-32 by the kernel's hash).
        connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(32)]
        try:
            for connection in connections:
                connection.connect()
            for connection in connections:
                connection.request("GET", "/healthz")
                answer = connection.getresponse()
                answer.read()
                assert answer.status == 200
                assert answer.getheader("Connection", "").lower() != "close"
            spread = held(workers, port, ESTABLISHED)
        finally:
            for connection in connections:
                connection.close()
        assert sum(spread.values()) == 32, spread
        assert all(count >= 1 for count in spread.values()), spread
