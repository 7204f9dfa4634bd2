"""`scim-bridge audit`: check that the audit trail is intact, export it, read one person's
history and the erasure receipts."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TextIO

import click

from scim_bridge.cli.root import now, opened, settings_of

#: Accepted spellings of --since and --until (no offset: UTC).
TIME_FORMATS = ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S")


@click.group()
def audit() -> None:
    """The audit trail: verify its hash chain, export a time range, one person's history."""


@audit.command("verify")
@click.pass_context
def audit_verify(ctx: click.Context) -> None:
    """Chain new records, then walk the chain; exit 1 naming the first bad record."""
    from scim_bridge.monitor.audit import FIX, verify
    from scim_bridge.monitor.audit_chain import chain_pending

    with opened(settings_of(ctx)) as database:
        chain_pending(database, now=now())
        with database.read() as session:
            verdict = verify(session)
    if not verdict.intact:
        raise click.ClickException(f"the audit trail is broken: {verdict.problem}; {FIX}")
    click.echo(
        f"the audit trail is intact: {verdict.records} record(s), {verdict.checkpoints} "
        f"checkpoint(s), head at position {verdict.head_seq} ({verdict.head_hash[:16]}…)"
    )


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@contextmanager
def _output(path: str | None) -> Iterator[TextIO]:
    """Standard output, or a new owner-only file (an export holds personal data)."""
    if path is None:
        yield sys.stdout
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
        yield out


@audit.command("export")
@click.option("--since", type=click.DateTime(TIME_FORMATS), help="From this time (UTC), included.")
@click.option("--until", type=click.DateTime(TIME_FORMATS), help="To this time (UTC), excluded.")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="jsonl")
@click.option("--output", type=click.Path(dir_okay=False), help="Write here, not stdout.")
@click.pass_context
def audit_export(
    ctx: click.Context,
    since: datetime | None,
    until: datetime | None,
    fmt: str,
    output: str | None,
) -> None:
    """Stream the records of a time range as JSON Lines or CSV (secrets are never in them)."""
    from scim_bridge.monitor.audit import records_between, write_export
    from scim_bridge.monitor.audit_chain import chain_pending

    start, end = _utc(since), _utc(until)
    if start is not None and end is not None and end <= start:
        raise click.BadParameter("must be later than --since", param_hint="--until")
    with opened(settings_of(ctx)) as database:
        chain_pending(database, now=now())
        with database.read() as session, _output(output) as out:
            count = write_export(records_between(session, since=start, until=end), out, fmt=fmt)
    if output is not None:
        click.echo(f"wrote {count} record(s) to {output}", err=True)


@audit.command("history")
@click.argument("user")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_context
def audit_history(ctx: click.Context, user: str, fmt: str) -> None:
    """One person's timeline: the IdP's requests, then DingTalk's answers, in order.

    USER is a SCIM id, a userName or a DingTalk userid."""
    from scim_bridge.monitor.audit_history import resolve, timeline

    with opened(settings_of(ctx)) as database, database.read() as session:
        scim_id = resolve(session, user)
        entries = timeline(session, scim_id)
    if fmt == "json":
        body = {"user": scim_id, "entries": [e.as_json() for e in entries]}
        click.echo(json.dumps(body, ensure_ascii=False, indent=2))
        return
    click.echo(f"audit history of User {scim_id}: {len(entries)} record(s)")
    for e in entries:
        click.echo(
            f"{e.at:%Y-%m-%d %H:%M:%S}  {e.side:<8} {e.actor[:16]:<16} "
            f"{e.resource[:42]:<42} {e.summary}"
        )


@audit.command("erasures")
@click.pass_context
def audit_erasures(ctx: click.Context) -> None:
    """List the erasure receipts: who asked, when, what went, DingTalk's confirmation."""
    from scim_bridge.monitor.erasure import receipt_lines, receipts

    with opened(settings_of(ctx)) as database, database.read() as session:
        found = receipts(session)
        if not found:
            click.echo("no erasure receipts")
        for receipt in found:
            click.echo("\n".join(receipt_lines(receipt)))


COMMANDS = (audit,)
