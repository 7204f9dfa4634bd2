"""What `scim_load.py` runs ours with: the store (a fresh PostgreSQL database or SQLite file),
the DingTalk emulator in its own process (for the translator), and the rounds' summary.

Issue 14: the targets are measured with `serve`'s defaults, translator on. The emulator runs
apart so that the CPU of the server measured is ours alone; it is paced like DingTalk (20 QPS
per API by default), as the real one would pace the translator.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

APP_KEY, APP_SECRET = "scim-load-app", "scim-load-secret-4b1e"
CLI = str(Path(sys.executable).with_name("scim-bridge"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def emulator_process(log_path: Path, *, qps: float) -> Iterator[str]:
    """Run ``scim-bridge emulator`` in its own process for the block; yield its URL."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIM_BRIDGE_")}
    cmd = [CLI, "emulator", "--port", str(port), "--qps", str(qps)]
    cmd += ["--app-key", APP_KEY, "--app-secret", APP_SECRET]
    with log_path.open("wb") as out:
        process = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit(f"the emulator did not start (see {log_path})") from None
                    time.sleep(0.2)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def translator_env(emulator_url: str, runtime: Path) -> dict[str, str]:
    """Return the environment that points `serve`'s translator at the emulator."""
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    return {
        "SCIM_BRIDGE_DINGTALK_BASE_URL": emulator_url,
        "SCIM_BRIDGE_DINGTALK_API_URL": emulator_url,
        "SCIM_BRIDGE_DINGTALK_APP_KEY": APP_KEY,
        "SCIM_BRIDGE_DINGTALK_APP_SECRET": APP_SECRET,
        # Its lock and wake-up socket in the run's own directory, never a shared one.
        "SCIM_BRIDGE_RUNTIME_DIR": str(runtime),
    }


@contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """Create a fresh database on the PostgreSQL server of ``server_url``; drop it after."""
    import psycopg
    from sqlalchemy.engine import make_url

    from scim_bridge.directory.db import normalise_url

    url = make_url(normalise_url(server_url))
    name = f"scim_load_{uuid.uuid4().hex[:10]}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def median_phases(runs: list[Any]) -> dict[str, Any]:
    """Return, per operation, the phase of median rate over the rounds (lower median)."""
    out: dict[str, Any] = {}
    for name in {key for run in runs for key in run.phases}:
        phases = sorted((r.phases[name] for r in runs if name in r.phases), key=lambda p: p.rate)
        out[name] = phases[(len(phases) - 1) // 2]
    return out


def round_ratios(ours: list[Any], refs: list[Any], key: str) -> list[float]:
    """Return ours / reference for one operation, round by round (same round, same machine)."""
    out = []
    for mine, theirs in zip(ours, refs, strict=False):
        a, b = mine.phases.get(key), theirs.phases.get(key)
        if a is not None and b is not None and b.rate:
            out.append(a.rate / b.rate)
    return out


def write_json(
    path: Path, *, backend: str, users: int, translator: bool, rows: list[dict[str, Any]]
) -> None:
    """Write the figures bench/run_all.py reads: one row per operation."""
    doc = {"backend": backend, "users": users, "translator": translator, "rows": rows}
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")


def median_or_nan(values: list[float]) -> float:
    """Return the median, or NaN of nothing."""
    return statistics.median(values) if values else float("nan")
