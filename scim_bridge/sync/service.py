"""Process-level helpers of the translator: the host lock.

Building a worker from Settings is the composition root's job (``scim_bridge/bootstrap.py``).
A dead letter reaches the operator through the alert rules (monitor/alert_rules.py, the
``dead_letters`` rule) and the notify channels, the alert command among them
(notify/command.py), never through a hook of the worker.
"""

from __future__ import annotations

from scim_bridge.settings import Settings
from scim_bridge.sync.runtime_files import SingletonLock, lock_path


def try_singleton_lock(settings: Settings) -> SingletonLock | None:
    """Take this host's translator lock for the database; None if another process has it."""
    return SingletonLock.acquire(lock_path(settings))
