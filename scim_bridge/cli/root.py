"""The `scim-bridge` group itself, and the few helpers every command module shares.

The group reads Settings once (defaults < config file < environment) and hands them to each
command as ``ctx.obj``. Its ``invoke`` is the one place where an exception becomes what the
operator reads: a single ``Error: <problem>; <fix>`` line (``cli/errors.py``), never a traceback.
"""

from __future__ import annotations

import errno
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import click

from scim_bridge import __version__
from scim_bridge.cli.errors import describe
from scim_bridge.directory.db import Database
from scim_bridge.errors import ConfigError
from scim_bridge.settings import Settings, load_settings

log = logging.getLogger("scim_bridge.cli")

#: Commands that run until stopped; they log to stderr at SCIM_BRIDGE_LOG_LEVEL.
LONG_RUNNING = frozenset({"serve", "worker", "quickstart", "emulator"})

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

#: click's own ways out (usage errors, --help, exit codes, Ctrl-C): click renders them.
_CLICKS_OWN = (click.ClickException, click.exceptions.Exit, click.exceptions.Abort)


class BridgeGroup(click.Group):
    """A click group whose invoke turns every exception into one line on stderr, exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; render any failure as ``Error: <problem>; <fix>``."""
        try:
            return super().invoke(ctx)
        except _CLICKS_OWN:
            raise
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise  # `scim-bridge dlq list | head`: click exits quietly
            raise click.ClickException(describe(exc, ctx)) from None
        except Exception as exc:
            raise click.ClickException(describe(exc, ctx)) from None


def settings_of(ctx: click.Context) -> Settings:
    """Return the Settings the group loaded for this invocation."""
    settings = ctx.find_root().obj
    assert isinstance(settings, Settings)
    return settings


def now() -> datetime:
    """Return the current time, timezone-aware UTC (the CLI's clock)."""
    return datetime.now(UTC)


@contextmanager
def opened(settings: Settings) -> Iterator[Database]:
    """Open the configured database for one command and close its pool afterwards."""
    from scim_bridge.bootstrap import open_database

    database = open_database(settings)
    try:
        yield database
    finally:
        database.dispose()


def configure_logging(ctx: click.Context, settings: Settings) -> None:
    """Send the package's log to stderr: at the configured level for the long-running commands,
    and for the one-shot ones only when SCIM_BRIDGE_LOG_LEVEL=DEBUG (one line per error)."""
    logger = logging.getLogger("scim_bridge")
    level = settings.log_level.upper()
    if level not in LOG_LEVELS:
        raise ConfigError(
            f"setting log_level must be one of {', '.join(LOG_LEVELS)}, got "
            f"{settings.log_level!r} (set SCIM_BRIDGE_LOG_LEVEL)"
        )
    long_running = ctx.invoked_subcommand in LONG_RUNNING
    handler: logging.Handler
    if long_running or level == "DEBUG":
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        # Without any handler Python prints warnings bare on stderr ("lastResort"), which
        # would add lines to a one-line error; the long-running commands keep the log.
        handler = logging.NullHandler()
    logger.setLevel(level)
    logger.addHandler(handler)
    # CliRunner swaps stderr per invocation: drop the handler with the invocation.
    ctx.call_on_close(lambda: logger.removeHandler(handler))


@click.group(cls=BridgeGroup)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="SCIM_BRIDGE_CONFIG",
    help="YAML config file (SCIM_BRIDGE_CONFIG); SCIM_BRIDGE_* variables override it.",
)
@click.version_option(__version__, prog_name="scim-bridge")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """SCIM 2.0 service provider that projects your directory onto DingTalk."""
    ctx.obj = load_settings(config_path=config_path)
    configure_logging(ctx, ctx.obj)
