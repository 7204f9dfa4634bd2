"""The only place that turns an exception into what an operator reads: one line, problem; fix.

``describe`` is called by the group's invoke hook (``cli/root.py``) for every failure of every
command. Our own errors already name the setting and the fix; errors from the database, the
network and the operating system get the fix here. Anything unexpected is named, its
traceback goes to the log at debug level, and the line says how to see it: never a traceback.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable

import click
from alembic.util import CommandError
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from scim_bridge.errors import (
    AuthFailed,
    BridgeError,
    DingTalkError,
    IpBanned,
    PermissionDenied,
    ProjectionPaused,
    ScimError,
    Throttled,
    Transient,
)
from scim_bridge.settings import Settings, mask_url_password

log = logging.getLogger("scim_bridge.cli")

#: ctx.meta key under which a command notes the DingTalk base URL it talks to.
DINGTALK_URL = "scim_bridge.dingtalk_url"

#: PostgreSQL and SQLite words for "the schema is not there".
_NO_SCHEMA = ("no such table", "no such column", "UndefinedTable", "UndefinedColumn")


def describe(exc: BaseException, ctx: click.Context) -> str:
    """Return the one line an operator reads for ``exc``: the problem, then the fix."""
    for kind, render in _RENDERERS:
        if isinstance(exc, kind):
            return one_line(render(exc, ctx))
    return one_line(_unexpected(exc, ctx))


def one_line(message: str) -> str:
    """Keep the first line of a message, saying how many more there were."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else "failed without a message"
    return f"{lines[0]} (and {len(lines) - 1} more)"


def _settings(ctx: click.Context) -> Settings | None:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Settings) else None


def _database_url(ctx: click.Context) -> str:
    settings = _settings(ctx)
    return mask_url_password(settings.database_url) if settings else "SCIM_BRIDGE_DATABASE_URL"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --- our own errors ----------------------------------------------------------------------------


def _bridge(exc: BaseException, ctx: click.Context) -> str:
    # ConfigError, GuardError and friends: the message already names the setting and the fix.
    return str(exc)


def _paused(exc: BaseException, ctx: click.Context) -> str:
    return f"{exc}; `scim-bridge guard status` shows the paused removals and how to release them"


def _scim(exc: BaseException, ctx: click.Context) -> str:
    assert isinstance(exc, ScimError)
    kind = f"{exc.status} {exc.scim_type}" if exc.scim_type else str(exc.status)
    return f"{exc.detail} (SCIM {kind}); correct the input and run the command again"


def _dingtalk(exc: BaseException, ctx: click.Context) -> str:
    assert isinstance(exc, DingTalkError)
    url = ctx.meta.get(DINGTALK_URL)
    where = f"DingTalk at {url}" if url else "DingTalk"
    api = f" on {exc.api}" if exc.api else ""
    if isinstance(exc, AuthFailed):
        return (
            f"{where} refused the app credentials ({exc.reason}); check "
            "SCIM_BRIDGE_DINGTALK_APP_KEY and SCIM_BRIDGE_DINGTALK_APP_SECRET"
        )
    if isinstance(exc, PermissionDenied):
        return (
            f"{where} denied the call{api} ({exc.reason}); grant the app the contact "
            "permissions and add this host's IP to its whitelist in the DingTalk console"
        )
    if isinstance(exc, IpBanned):
        return f"{where} banned this IP for about five minutes; wait, then try again"
    if isinstance(exc, Throttled):
        return f"{where} kept throttling{api}; try again in a minute"
    if isinstance(exc, Transient):
        # The raw text of a network error can hold the request URL: left out on purpose.
        return (
            f"{where} did not answer{api} ({exc.reason}); check the network and "
            "SCIM_BRIDGE_DINGTALK_BASE_URL, then try again"
        )
    return f"{where} refused the call{api}: {exc.reason} {exc.message}".rstrip() + (
        "; fix what DingTalk names, then try again"
    )


# --- the database, migrations, the operating system -----------------------------------------


def _database(exc: BaseException, ctx: click.Context) -> str:
    url = _database_url(ctx)
    cause = getattr(exc, "orig", None) or exc
    text = f"{type(cause).__name__} {cause}"
    if any(word in text for word in _NO_SCHEMA):
        return f"the database at {url} has no schema or an old one; run `scim-bridge db upgrade`"
    if isinstance(exc, OperationalError):
        return (
            f"cannot use the database at {url} ({_first_line(cause)}); check "
            "SCIM_BRIDGE_DATABASE_URL and that the database server is running"
        )
    return (
        f"the database at {url} failed ({_first_line(cause)}); check SCIM_BRIDGE_DATABASE_URL "
        "and run `scim-bridge db upgrade`"
    )


def _migration(exc: BaseException, ctx: click.Context) -> str:
    return f"{_first_line(exc)}; pass --revision head (the latest) or an existing revision id"


def _os(exc: BaseException, ctx: click.Context) -> str:
    assert isinstance(exc, OSError)
    if exc.errno == errno.EADDRINUSE:
        return (
            "the address is already in use; stop what listens there or choose another "
            "port (--port, SCIM_BRIDGE_PORT)"
        )
    what = exc.strerror or _first_line(exc)
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{what}{where}; check the path, its permissions and the free disk space"


def _unexpected(exc: BaseException, ctx: click.Context) -> str:
    command = ctx.invoked_subcommand or ctx.info_name or "scim-bridge"
    log.debug("unexpected error in `scim-bridge %s`", command, exc_info=exc)
    return (
        f"unexpected {type(exc).__name__} in `scim-bridge {command}`; this is a bug: run it "
        "again with SCIM_BRIDGE_LOG_LEVEL=DEBUG to log the traceback, and report it"
    )


_Renderer = Callable[[BaseException, click.Context], str]

#: First match wins: subclasses before their bases.
_RENDERERS: tuple[tuple[type[BaseException], _Renderer], ...] = (
    (ProjectionPaused, _paused),
    (ScimError, _scim),
    (DingTalkError, _dingtalk),
    (BridgeError, _bridge),
    (SQLAlchemyError, _database),
    (CommandError, _migration),
    (OSError, _os),
)
