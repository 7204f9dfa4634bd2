"""`scim-bridge db`: the database schema, copies to another database, online SQLite backups."""

from __future__ import annotations

from pathlib import Path

import click

from scim_bridge.cli.root import settings_of


@click.group()
def db() -> None:
    """Manage the database: schema, copies to another database, online SQLite backups."""


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


@db.command("copy")
@click.argument("source")
@click.argument("destination")
def db_copy(source: str, destination: str) -> None:
    """Copy every table from SOURCE to the empty database DESTINATION (database URLs).

    For moving from SQLite to PostgreSQL: stop the API and the worker, copy, point
    SCIM_BRIDGE_DATABASE_URL at DESTINATION, start them again (docs/operations.md)."""
    from scim_bridge.directory.copy import copy_database
    from scim_bridge.settings import mask_url_password

    bar = _TableProgress()
    report = copy_database(source, destination, progress=bar)
    bar.finish()
    rows = sum(report.rows.values())
    click.echo(
        f"copied {rows} rows in {len(report.rows)} tables to {mask_url_password(destination)} "
        f"(schema revision {report.revision})"
    )


@db.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def db_backup(ctx: click.Context, file: Path) -> None:
    """Write a consistent copy of the SQLite database to FILE while the bridge runs."""
    from scim_bridge.directory.copy import backup_sqlite

    size = backup_sqlite(settings_of(ctx).database_url, file)
    click.echo(f"backed up {size} bytes to {file} (restore: stop the bridge, copy it back)")


class _TableProgress:
    """One line per table on stderr, rewritten as rows are copied."""

    def __init__(self) -> None:
        self._table = ""

    def __call__(self, table: str, done: int, total: int) -> None:
        if table != self._table and self._table:
            click.echo("", err=True)
        self._table = table
        click.echo(f"\r{table}: {done}/{total} rows", nl=False, err=True)

    def finish(self) -> None:
        if self._table:
            click.echo("", err=True)


COMMANDS = (db,)
