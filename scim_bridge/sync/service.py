"""Process-level helpers of the translator: the dead-letter alert command, the host lock.

Building a worker from Settings is the composition root's job (``scim_bridge/bootstrap.py``).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shlex
import subprocess
from collections.abc import Callable
from typing import IO

from scim_bridge.directory.models import DeadLetter
from scim_bridge.settings import Settings
from scim_bridge.sync.wakeup import socket_path

log = logging.getLogger("scim_bridge.sync")


def command_alert(command: str) -> Callable[[DeadLetter], None]:
    """Return a dead-letter hook that runs an operator's command with the letter as JSON."""
    argv = shlex.split(command)

    def alert(letter: DeadLetter) -> None:
        payload = {
            "event": "dead_letter",
            "resource_type": letter.resource_type,
            "resource_id": letter.resource_id,
            "reason": letter.reason,
            "code": letter.code,
            "attempts": letter.attempts,
        }
        subprocess.run(  # noqa: S603 - the operator's own configured command
            argv, input=json.dumps(payload).encode(), timeout=10, check=False
        )

    return alert


def try_singleton_lock(settings: Settings) -> IO[str] | None:
    """Take this host's translator lock for the database; None if another process has it."""
    handle = open(socket_path(settings.database_url) + ".lock", "a+")  # noqa: SIM115
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle
