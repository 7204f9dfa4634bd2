"""`scim-bridge dlq`: changes that could not reach DingTalk, and what to do with them."""

from __future__ import annotations

import click

from scim_bridge.cli.root import now, opened, settings_of

STAMP = "%Y-%m-%d %H:%M:%S"


@click.group()
def dlq() -> None:
    """Inspect and act on changes that could not reach DingTalk."""


@dlq.command("list")
@click.pass_context
def dlq_list(ctx: click.Context) -> None:
    """List dead letters with the reason in plain words."""
    from scim_bridge.sync.dlq import list_dead_letters

    with opened(settings_of(ctx)) as database, database.read() as session:
        letters = list_dead_letters(session)
    if not letters:
        click.echo("the dead-letter list is empty")
        return
    click.echo(f"{'ID':>5}  {'TYPE':<6} {'RESOURCE':<36}  {'ATTEMPTS':>8}  REASON")
    for d in letters:
        click.echo(
            f"{d.id:>5}  {d.resource_type:<6} {d.resource_id:<36}  {d.attempts:>8}  {d.reason}"
        )


@dlq.command("show")
@click.argument("letter_id", type=int)
@click.pass_context
def dlq_show(ctx: click.Context, letter_id: int) -> None:
    """Show one dead letter and what DingTalk answered to each attempt."""
    from scim_bridge.sync.dlq import get_dead_letter, history

    with opened(settings_of(ctx)) as database, database.read() as session:
        letter = get_dead_letter(session, letter_id)
        if letter is None:
            raise click.ClickException(
                f"no dead letter {letter_id}; `scim-bridge dlq list` shows them"
            )
        events = history(session, letter)
    click.echo(f"{letter.resource_type} {letter.resource_id}: {letter.reason}")
    click.echo(
        f"code {letter.code}, {letter.attempts} attempt(s), since {letter.created_at:{STAMP}}"
    )
    if letter.detail:
        click.echo(f"DingTalk said: {letter.detail}")
    for e in events:
        what = f"{e.action:<8} {e.outcome:<9} {e.code:<8}"
        click.echo(f"  {e.at:{STAMP}} {what} {e.reason or ''}")


@dlq.command("retry")
@click.argument("letter_ids", type=int, nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Retry every dead letter.")
@click.pass_context
def dlq_retry(ctx: click.Context, letter_ids: tuple[int, ...], all_: bool) -> None:
    """Queue dead letters again (after the data was fixed in the IdP)."""
    from scim_bridge.sync.dlq import retry
    from scim_bridge.sync.wakeup import notify_local, socket_path

    if not letter_ids and not all_:
        raise click.UsageError("name dead-letter ids (see `scim-bridge dlq list`) or pass --all")
    settings = settings_of(ctx)
    with opened(settings) as database, database.write() as session:
        count = retry(session, None if all_ else list(letter_ids), now=now(), actor="dlq-retry")
    notify_local(socket_path(settings))
    click.echo(f"queued {count} dead letter(s) again")


@dlq.command("drop")
@click.argument("letter_ids", type=int, nargs=-1, required=True)
@click.pass_context
def dlq_drop(ctx: click.Context, letter_ids: tuple[int, ...]) -> None:
    """Forget dead letters without retrying them."""
    from scim_bridge.sync.dlq import drop

    with opened(settings_of(ctx)) as database, database.write() as session:
        count = drop(session, list(letter_ids))
    click.echo(f"dropped {count} dead letter(s)")


COMMANDS = (dlq,)
