"""`scim-bridge guard`: the mass-change guard's paused removals, and releasing them."""

from __future__ import annotations

import click

from scim_bridge.cli.root import now, opened, settings_of


@click.group()
def guard() -> None:
    """The mass-change guard: see a paused burst of removals, and release it."""


@guard.command("status")
@click.pass_context
def guard_status(ctx: click.Context) -> None:
    """Say whether removals are paused, how many, and the token that releases them."""
    from scim_bridge.sync.guard import paused

    with opened(settings_of(ctx)) as database, database.read() as session:
        pause = paused(session)
    if pause is None:
        click.echo("removals are flowing: the mass-change guard is not paused")
        return
    click.echo(
        f"PAUSED since {pause['since']}: {pause['removals']} of {pause['active_users']} people "
        f"({pause['percent']}% > {pause['threshold']}%) would be removed from DingTalk"
    )
    if pause.get("rejected_by"):
        click.echo(f"rejected by {pause['rejected_by']}: these removals stay held")
    click.echo(f"review them, then release with: scim-bridge guard confirm {pause['token']}")
    click.echo(f"or keep them in DingTalk with: scim-bridge guard reject {pause['token']}")


@guard.command("confirm")
@click.argument("token")
@click.pass_context
def guard_confirm(ctx: click.Context, token: str) -> None:
    """Release the paused removals (the token from `guard status` or the alert)."""
    from scim_bridge.bootstrap import load_mapping
    from scim_bridge.sync.guard import confirm_burst
    from scim_bridge.sync.wakeup import notify_local, socket_path

    settings = settings_of(ctx)
    rules = load_mapping(settings)
    with opened(settings) as database, database.write() as session:
        released = confirm_burst(
            session,
            rules.guard,
            token,
            now=now(),
            actor="guard-confirm",
            inactive_is_removal=rules.leavers.action == "delete",
        )
    notify_local(socket_path(settings))
    click.echo(f"released {released} removal(s); the translator proceeds now")


@guard.command("reject")
@click.argument("token")
@click.pass_context
def guard_reject(ctx: click.Context, token: str) -> None:
    """Keep the paused removals from happening: those people stay in DingTalk."""
    from scim_bridge.bootstrap import load_mapping
    from scim_bridge.sync.guard import reject_burst

    settings = settings_of(ctx)
    rules = load_mapping(settings)
    with opened(settings) as database, database.write() as session:
        held = reject_burst(
            session,
            rules.guard,
            token,
            now=now(),
            actor="guard-reject",
            inactive_is_removal=rules.leavers.action == "delete",
        )
    click.echo(
        f"rejected: {held} removal(s) stay held until the IdP restores those people "
        f"(or `scim-bridge guard confirm {token}` releases them after all)"
    )


COMMANDS = (guard,)
