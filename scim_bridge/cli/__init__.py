"""The `scim-bridge` command (entry point ``scim_bridge.cli:main``).

One module per command group; ``root.py`` holds the group, the shared helpers and the one
error hook, ``errors.py`` the words of every failure, ``webserver.py`` gunicorn. To add a
command, write it in the module of its group (or a new module with a ``COMMANDS`` tuple listed
below); build objects with ``scim_bridge.bootstrap``, raise our errors, never print a traceback.
"""

from __future__ import annotations

from importlib import import_module

from scim_bridge.cli.root import main

#: One module per command group, each with a ``COMMANDS`` tuple (click sorts them in --help).
COMMAND_MODULES = (
    "admin",
    "alerts",
    "audit",
    "config",
    "database",
    "demo",
    "dlq",
    "erase",
    "explain",
    "guard",
    "maintenance",
    "mapping",
    "plan",
    "reconcile",
    "report",
    "serve",
    "tokens",
)

for _name in COMMAND_MODULES:
    for _command in import_module(f"scim_bridge.cli.{_name}").COMMANDS:
        main.add_command(_command)

__all__ = ["main"]
