"""`scim-bridge maintenance`: windows the SLA leaves out (issue 12, monitor/maintenance.py)."""

from __future__ import annotations

import click

from scim_bridge.cli.root import now, opened, settings_of

STAMP = "%Y-%m-%dT%H:%M%z"


@click.group()
def maintenance() -> None:
    """Declare, list and remove maintenance windows excluded from the SLA."""


@maintenance.command("add")
@click.option("--start", required=True, help="ISO 8601 with an offset: 2026-11-03T02:00+08:00.")
@click.option("--end", required=True, help="ISO 8601 with an offset; the window ends before it.")
@click.option("--reason", required=True, help="Why (shown in the report's figures).")
@click.pass_context
def maintenance_add(ctx: click.Context, start: str, end: str, reason: str) -> None:
    """Declare a maintenance window."""
    from scim_bridge.monitor.maintenance import add_window, declared, parse_instant

    window = declared(
        parse_instant(start, name="--start"), parse_instant(end, name="--end"), reason
    )
    with opened(settings_of(ctx)) as database, database.write() as session:
        row = add_window(session, window, now=now())
        window_id = row.id
    click.echo(
        f"maintenance window {window_id}: {window.starts_at:{STAMP}} to {window.ends_at:{STAMP}}"
    )


@maintenance.command("list")
@click.pass_context
def maintenance_list(ctx: click.Context) -> None:
    """List the declared windows (from the CLI and from setting sla_maintenance_windows)."""
    from scim_bridge.monitor.availability import aware
    from scim_bridge.monitor.maintenance import list_windows, sync_declared
    from scim_bridge.monitor.sla_jobs import SlaPolicy

    settings = settings_of(ctx)
    policy = SlaPolicy.from_settings(settings)
    with opened(settings) as database:
        with database.write() as session:
            sync_declared(session, policy.maintenance, now=now())
        with database.read() as session:
            rows = [
                (w.id, aware(w.starts_at), aware(w.ends_at), w.source, w.reason)
                for w in list_windows(session)
            ]
    if not rows:
        click.echo("no maintenance windows declared")
        return
    click.echo(f"{'ID':>4}  {'START (UTC)':<22} {'END (UTC)':<22} {'SOURCE':<8} REASON")
    for window_id, start, end, source, reason in rows:
        when = f"{start.strftime(STAMP):<22} {end.strftime(STAMP):<22}"
        click.echo(f"{window_id:>4}  {when} {source:<8} {reason}")


@maintenance.command("remove")
@click.argument("window_id", type=int)
@click.pass_context
def maintenance_remove(ctx: click.Context, window_id: int) -> None:
    """Remove a window declared with `maintenance add`."""
    from scim_bridge.monitor.maintenance import remove_window

    with opened(settings_of(ctx)) as database, database.write() as session:
        remove_window(session, window_id)
    click.echo(f"removed maintenance window {window_id}")


COMMANDS = (maintenance,)
