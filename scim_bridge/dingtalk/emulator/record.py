"""Where a running built-in emulator can be found by other commands on this host.

`make run` (``scim-bridge quickstart``) starts the emulator on an ephemeral port inside its own
process. It writes the URL and the emulator's own throwaway app key and secret to a private
file (0600, in a 0700 directory) so that `scim-bridge plan` run beside it talks to the same
emulator, and removes the file when it stops. A reader checks that the emulator still answers:
a file left behind by a killed process is ignored.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import requests

from scim_bridge.dingtalk.emulator.app import CONTROL_PREFIX

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


@dataclass(frozen=True)
class EmulatorRecord:
    """How to reach one running built-in emulator."""

    url: str
    app_key: str
    app_secret: str
    pid: int


def private_dir(path: Path) -> Path:
    """Create ``path`` as a directory only its owner can enter (0700); return it."""
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(PRIVATE_DIR_MODE)  # created by an older version, or with a loose umask
    return path


def write_record(path: Path, record: EmulatorRecord) -> None:
    """Write the record atomically as a 0600 file inside a 0700 directory."""
    private_dir(path.parent)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(asdict(record), handle)
    os.replace(partial, path)


def read_record(path: Path) -> EmulatorRecord | None:
    """Return the record at ``path``; None when there is none or it is not one of ours."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return EmulatorRecord(
            url=str(data["url"]),
            app_key=str(data["app_key"]),
            app_secret=str(data["app_secret"]),
            pid=int(data["pid"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove_record(path: Path, record: EmulatorRecord) -> None:
    """Remove the file if it still describes ``record`` (another process may have replaced it)."""
    if read_record(path) == record:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def answers(record: EmulatorRecord, *, timeout: float = 2.0) -> bool:
    """Say whether the recorded emulator is up and is the one recorded (same app key)."""
    try:
        reply = requests.get(f"{record.url}{CONTROL_PREFIX}config", timeout=timeout)
        return bool(reply.ok and reply.json().get("app_key") == record.app_key)
    except (requests.RequestException, ValueError, AttributeError):
        return False
