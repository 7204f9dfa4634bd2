"""`scim-bridge plan` (a dry run against DingTalk) and `scim-bridge quality` (data problems)."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from scim_bridge.cli.errors import DINGTALK_URL
from scim_bridge.cli.root import opened, settings_of
from scim_bridge.directory.db import Database
from scim_bridge.errors import ConfigError
from scim_bridge.settings import Settings


class Progress:
    """A progress line on stderr for long steps, only when stderr is a terminal."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.last = 0.0
        self.shown = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        """Show ``done`` of ``total`` (total 0: unknown), at most twice a second."""
        moment = time.monotonic()
        if not self.shown or (moment - self.last < 0.5 and done != total):
            return
        self.last = moment
        of = f"/{total}" if total else ""
        click.echo(f"\r{self.label}: {done}{of}", nl=False, err=True)

    def finish(self) -> None:
        """End the progress line."""
        if self.shown:
            click.echo("", err=True)


def read_directory(database: Database) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Read every user and group as SCIM renders them, showing progress."""
    from scim_bridge.sync.dryrun import load_directory

    progress = Progress("reading the directory")
    users, groups = load_directory(database, progress=progress)
    progress.finish()
    return users, groups


def current_state(ctx: click.Context, settings: Settings, database: Database, source: str) -> Any:
    """What DingTalk holds now: walked live, or as the bridge last applied it (links)."""
    from scim_bridge.bootstrap import dingtalk_client, dingtalk_target
    from scim_bridge.sync.dryrun import current_from_dingtalk, current_from_links

    if source == "links":
        return current_from_links(database)
    try:
        target = dingtalk_target(settings)
    except ConfigError as exc:
        raise ConfigError(f"{exc}; or use --source links") from None
    click.echo(f"using {target.note}", err=True)
    ctx.meta[DINGTALK_URL] = target.settings.dingtalk_base_url
    with dingtalk_client(target.settings) as client:
        walk = Progress("reading DingTalk users")
        current = current_from_dingtalk(database, client, progress=walk)
        walk.finish()
    return current


@click.command()
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.option(
    "--source",
    type=click.Choice(["dingtalk", "links"]),
    default="dingtalk",
    show_default=True,
    help="Compare with DingTalk itself (walked live) or with what the bridge applied.",
)
@click.pass_context
def plan(ctx: click.Context, fmt: str, source: str) -> None:
    """List every DingTalk call needed to converge (a dry run: nothing is written)."""
    from scim_bridge.bootstrap import load_mapping
    from scim_bridge.mapping.project import project_directory
    from scim_bridge.sync.plan import plan as make_plan
    from scim_bridge.sync.plan_render import render_plan

    settings = settings_of(ctx)
    rules = load_mapping(settings)
    with opened(settings) as database:
        users, groups = read_directory(database)
        current = current_state(ctx, settings, database, source)
    result = make_plan(project_directory(users, groups, rules), current)
    click.echo(render_plan(result, fmt))


@click.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.pass_context
def quality(ctx: click.Context, fmt: str) -> None:
    """Report data problems that would block or degrade projection; exit 1 if any blocks."""
    from scim_bridge.bootstrap import load_mapping
    from scim_bridge.mapping.quality import quality_report, render_quality

    settings = settings_of(ctx)
    rules = load_mapping(settings)
    with opened(settings) as database:
        users, groups = read_directory(database)
    checking = Progress("checking")
    report = quality_report(users, groups, rules, progress=checking)
    checking.finish()
    click.echo(render_quality(report, fmt))
    if report.blocking:
        raise SystemExit(1)


COMMANDS = (plan, quality)
