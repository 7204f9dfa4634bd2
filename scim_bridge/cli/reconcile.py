"""`scim-bridge reconcile`: compare DingTalk with the directory, report the drift, repair it.

Exit status: 0 when DingTalk is exactly what the directory says, 1 when drift was found (with
``--apply`` the repairs are queued for the worker; run it again to see them applied). The
estimate and the progress go to stderr; stdout holds only the report.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from scim_bridge.cli.errors import DINGTALK_URL
from scim_bridge.cli.root import opened, settings_of


class StepProgress:
    """A progress line on stderr ("reading DingTalk: members 40/200"), only on a terminal."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.last = 0.0
        self.shown = sys.stderr.isatty()

    def __call__(self, step: str, done: int, total: int) -> None:
        """Show one step's progress, at most twice a second (and its last count)."""
        moment = time.monotonic()
        if not self.shown or (moment - self.last < 0.5 and done != total):
            return
        self.last = moment
        of = f"/{total}" if total else ""
        click.echo(f"\r{self.label}: {step} {done}{of}\033[K", nl=False, err=True)

    def finish(self) -> None:
        """End the progress line."""
        if self.shown:
            click.echo("", err=True)


def render_result(report: dict[str, Any], fmt: str) -> str:
    """Return the report as JSON or as a table."""
    if fmt == "json":
        return json.dumps(report, indent=2, ensure_ascii=False, sort_keys=False)
    lines = [
        f"compared {report['compared']} managed people and {report['departments_compared']} "
        f"departments: accuracy {report['accuracy_percent']:.2f}%, "
        f"{len(report['drift'])} difference(s) ({report['calls_made']} DingTalk calls, "
        f"{report['calls_estimated']} estimated)"
    ]
    if report["drift"]:
        rows = [("KIND", "SCIM ID", "DINGTALK ID", "FIELDS", "CAUSE")]
        rows += [
            (
                d["kind"],
                d["scim_id"] or "-",
                d["dingtalk_id"] or "-",
                ",".join(d["fields"]) or "-",
                d["cause"],
            )
            for d in report["drift"]
        ]
        widths = [max(len(str(r[i])) for r in rows) for i in range(5)]
        lines += [
            "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in rows
        ]
    repairs = report.get("repairs")
    if repairs is not None:
        lines.append(
            f"repairs queued for the worker: {repairs['queued']} resource(s) "
            f"({repairs['snapshots_corrected']} snapshot(s) corrected, "
            f"{repairs['links_released']} link(s) released, "
            f"{repairs['orphans_adopted']} orphan(s) adopted, "
            f"{repairs['orphans_to_remove']} orphan(s) to remove)"
        )
    return "\n".join(lines)


def render_history(runs: list[dict[str, Any]], fmt: str) -> str:
    """Return stored runs as JSON or as a table, newest first."""
    if fmt == "json":
        return json.dumps(runs, indent=2)
    if not runs:
        return "no reconcile has run yet"
    head = ("ID", "STARTED (UTC)", "MODE", "TRIGGER", "STATUS", "COMPARED", "ACCURACY", "DRIFT")
    rows: list[tuple[str, ...]] = [(*head, "CALLS")]
    for run in runs:
        accuracy = run["accuracy_percent"]
        rows.append(
            (
                str(run["id"]),
                run["started_at"][:19].replace("T", " "),
                run["mode"],
                run["trigger"],
                run["status"],
                str(run["compared"]),
                "-" if accuracy is None else f"{accuracy:.2f}%",
                str(sum(run["drift"].values())),
                f"{run['calls_made']}/{run['calls_estimated']}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


@click.command()
@click.option("--apply", "apply_", is_flag=True, help="Queue repairs through the outbox.")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.option(
    "--incremental",
    is_flag=True,
    help="Read only departments touched since the last run, plus a rotating slice of the rest.",
)
@click.option("--history", "show_history", is_flag=True, help="List the stored runs instead.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.pass_context
def reconcile(
    ctx: click.Context, apply_: bool, fmt: str, incremental: bool, show_history: bool, limit: int
) -> None:
    """Compare DingTalk with the directory; exit 1 if they differ (issue 10)."""
    settings = settings_of(ctx)
    if show_history:
        from scim_bridge.monitor.reconcile_state import history

        with opened(settings) as database, database.read() as session:
            runs = [run.to_dict() for run in history(session, limit=limit)]
        click.echo(render_history(runs, fmt))
        return
    from scim_bridge.bootstrap import dingtalk_client, dingtalk_target, load_mapping
    from scim_bridge.sync.reconcile import Reconciler, reconcile_full

    rules = load_mapping(settings)
    target = dingtalk_target(settings)
    click.echo(f"using {target.note}", err=True)
    ctx.meta[DINGTALK_URL] = target.settings.dingtalk_base_url
    # The translator keeps the rest of the per-second quota (settings.reconcile_qps_share).
    qps = target.settings.dingtalk_qps * settings.reconcile_qps_share
    progress = StepProgress("reading DingTalk")
    with opened(settings) as database, dingtalk_client(target.settings, qps=qps) as client:
        reconciler = Reconciler(
            database,
            client,
            settings,
            rules,
            progress=progress,
            on_estimate=lambda e: click.echo(f"estimate: {e.words()}", err=True),
            trigger="cli",
        )
        try:
            result = reconcile_full(reconciler, apply=apply_, incremental=incremental)
        finally:
            progress.finish()
    click.echo(render_result(result.to_dict(), fmt))
    if result.comparison.drift:
        raise SystemExit(1)


COMMANDS = (reconcile,)
