"""`scim-bridge config`: the effective configuration."""

from __future__ import annotations

import click

from scim_bridge.cli.root import settings_of


@click.group()
def config() -> None:
    """Inspect the effective configuration."""


@config.command("show")
@click.pass_context
def config_show(ctx: click.Context) -> None:
    """Print every setting with its effective value; secrets are masked."""
    for key, value in settings_of(ctx).masked().items():
        click.echo(f"{key} = {value}")


COMMANDS = (config,)
