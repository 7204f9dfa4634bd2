"""The `scim-bridge` command (entry point ``scim_bridge.cli:main``).

One module per command group; ``root.py`` holds the group, the shared helpers and the one
error hook, ``errors.py`` the words of every failure, ``webserver.py`` gunicorn. To add a
command, write it in the module of its group (or a new module with a ``COMMANDS`` tuple listed
below); build objects with ``scim_bridge.bootstrap``, raise our errors, never print a traceback.
"""

from __future__ import annotations

from scim_bridge.cli import audit, config, database, dlq, guard, mapping, plan, serve, tokens
from scim_bridge.cli.root import main

for _module in (serve, database, tokens, config, plan, dlq, guard, mapping, audit):
    for _command in _module.COMMANDS:
        main.add_command(_command)

# Issue 13: the console's accounts and the sample directory's push.
from scim_bridge.cli import admin, demo  # noqa: E402

for _command in (*admin.COMMANDS, *demo.COMMANDS):
    main.add_command(_command)

__all__ = ["main"]
