"""`scim-bridge alerts`: the alerts that fired, and how each channel's deliveries went."""

from __future__ import annotations

import click

from scim_bridge.cli.root import opened, settings_of

STAMP = "%Y-%m-%d %H:%M:%S"


@click.group()
def alerts() -> None:
    """Show alerts and their deliveries."""


@alerts.command("list")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.pass_context
def alerts_list(ctx: click.Context, limit: int) -> None:
    """List open alerts, then recent resolved ones, each with its channels' deliveries."""
    from scim_bridge.monitor.alert_store import recent

    with opened(settings_of(ctx)) as database, database.read() as session:
        rows = recent(session, limit=limit)
        if not rows:
            click.echo("no alerts have fired")
            return
        for alert, deliveries in rows:
            until = f" until {alert.resolved_at:{STAMP}}" if alert.resolved_at else ""
            folded = f", folded under {alert.parent_key}" if alert.parent_key else ""
            click.echo(
                f"{alert.status.upper():<8} {alert.severity:<10} {alert.key}  "
                f"since {alert.started_at:{STAMP}}{until}{folded}"
            )
            click.echo(f"         {alert.summary}")
            for d in deliveries:
                error = f": {d.error}" if d.error else ""
                click.echo(
                    f"         -> {d.channel:<18} {d.event:<8} {d.outcome:<9} "
                    f"attempt {d.attempt}{error}"
                )


COMMANDS = (alerts,)
