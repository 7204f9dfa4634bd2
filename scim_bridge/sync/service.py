"""Process-level helpers of the translator: the dead-letter alert command, the host lock.

Building a worker from Settings is the composition root's job (``scim_bridge/bootstrap.py``).
"""

from __future__ import annotations

import json
import logging
import shlex
import subprocess
from collections.abc import Callable, Mapping

from scim_bridge.directory.models import DeadLetter
from scim_bridge.settings import Settings
from scim_bridge.sync.runtime_files import SingletonLock, lock_path

log = logging.getLogger("scim_bridge.sync")


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


def try_singleton_lock(settings: Settings) -> SingletonLock | None:
    """Take this host's translator lock for the database; None if another process has it."""
    return SingletonLock.acquire(lock_path(settings))
