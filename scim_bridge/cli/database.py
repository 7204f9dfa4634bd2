"""`scim-bridge db`: the database schema."""

from __future__ import annotations

import click

from scim_bridge.cli.root import settings_of


@click.group()
def db() -> None:
    """Manage the database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target migration.")
@click.pass_context
def db_upgrade(ctx: click.Context, revision: str) -> None:
    """Create or migrate the database schema."""
    from scim_bridge.bootstrap import open_database
    from scim_bridge.directory.db import upgrade
    from scim_bridge.settings import mask_url_password

    settings = settings_of(ctx)
    open_database(settings).dispose()  # a missing SQLite directory is named before Alembic runs
    upgrade(settings.database_url, revision)
    click.echo(f"database at {mask_url_password(settings.database_url)} is at revision {revision}")


COMMANDS = (db,)
