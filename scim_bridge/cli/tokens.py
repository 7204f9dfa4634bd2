"""`scim-bridge token`: the bearer tokens IdPs authenticate with."""

from __future__ import annotations

import click

from scim_bridge.cli.root import now, opened, settings_of


@click.group()
def token() -> None:
    """Create, list and revoke the bearer tokens IdPs authenticate with."""


@token.command("create")
@click.argument("name")
@click.option(
    "--profile",
    type=click.Choice(["auto", "okta", "entra", "entra-additive", "strict"]),
    default="auto",
    show_default=True,
    help="IdP compatibility profile (auto reads the User-Agent).",
)
@click.option("--idp", help="IdP label for audit and externalId scope (default: the name).")
@click.pass_context
def token_create(ctx: click.Context, name: str, profile: str, idp: str | None) -> None:
    """Create a token; it is printed once, alone on the last line, and only its hash is kept."""
    from scim_bridge.directory.tokens import create_token

    with opened(settings_of(ctx)) as database, database.write() as session:
        row, plaintext = create_token(session, name, profile=profile, idp=idp, now=now())
        click.echo(
            f"created token {row.name!r} (profile {row.profile}); store it now, "
            "it cannot be shown again:",
            err=True,
        )
    click.echo(plaintext)


@token.command("list")
@click.pass_context
def token_list(ctx: click.Context) -> None:
    """List tokens (name, profile, prefix, created, last used, revoked)."""
    from scim_bridge.directory.tokens import list_tokens

    with opened(settings_of(ctx)) as database, database.read() as session:
        rows = list_tokens(session)
    header = f"{'NAME':<24} {'PROFILE':<8} {'PREFIX':<10} {'CREATED':<20} {'LAST USED':<20} STATUS"
    click.echo(header)
    fmt = "%Y-%m-%d %H:%M:%S"
    for r in rows:
        click.echo(
            f"{r.name:<24} {r.profile:<8} {r.prefix + '…':<10} {r.created_at.strftime(fmt):<20} "
            f"{(r.last_used_at.strftime(fmt) if r.last_used_at else 'never'):<20} "
            f"{'revoked' if r.revoked_at else 'active'}"
        )


@token.command("revoke")
@click.argument("name")
@click.pass_context
def token_revoke(ctx: click.Context, name: str) -> None:
    """Revoke a token by name; requests carrying it are refused from now on."""
    from scim_bridge.directory.tokens import revoke_token

    with opened(settings_of(ctx)) as database, database.write() as session:
        revoke_token(session, name, now=now())
    click.echo(f"revoked token {name!r}")


COMMANDS = (token,)
