"""`scim-bridge report sla`: the month's DingTalk availability, incidents and credits (issue 12)."""

from __future__ import annotations

from pathlib import Path

import click

from scim_bridge.cli.root import now, opened, settings_of


@click.group()
def report() -> None:
    """Reports for the people who hold DingTalk to its SLA."""


@report.command("sla")
@click.option("--month", required=True, metavar="YYYY-MM", help="The month, e.g. 2026-11.")
@click.option(
    "--tz",
    default=None,
    metavar="ZONE",
    help="IANA time zone of the month's boundaries (default: setting sla_report_tz).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "csv", "json"]),
    default="html",
    show_default=True,
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write here (mode 0600) instead of standard output.",
)
@click.pass_context
def report_sla(
    ctx: click.Context, month: str, tz: str | None, fmt: str, output: Path | None
) -> None:
    """Availability, downtime, incidents, credits, sync lag for one month, in one zone."""
    from scim_bridge.monitor.availability import parse_month, zone
    from scim_bridge.monitor.maintenance import sync_declared
    from scim_bridge.monitor.sla_jobs import SlaPolicy, write_report
    from scim_bridge.monitor.sla_render import render
    from scim_bridge.monitor.sla_report import build

    settings = settings_of(ctx)
    policy = SlaPolicy.from_settings(settings)
    first = parse_month(month)
    tz = tz or policy.report_tz
    zone(tz)  # an unknown zone fails here, before the database is opened
    with opened(settings) as database:
        # Windows declared in the settings count even if no worker has copied them yet.
        with database.write() as session:
            sync_declared(session, policy.maintenance, now=now())
        with database.read() as session:
            figures = build(session, month=first, tz=tz, policy=policy.report(), now=now())
    body = render(figures, fmt)
    if output is None:
        click.echo(body, nl=False)
        return
    write_report(output, body)
    click.echo(f"wrote the {fmt} SLA report of {figures.month} ({tz}) to {output}", err=True)


COMMANDS = (report,)
