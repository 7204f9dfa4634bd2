"""`scim-bridge token`: the bearer tokens IdPs authenticate with."""

from __future__ import annotations

from datetime import timedelta

import click

from scim_bridge.cli.root import now, opened, settings_of


@click.group()
def token() -> None:
    """Create, rotate, list and revoke the bearer tokens IdPs authenticate with."""


@token.command("create")
@click.argument("name")
@click.option(
    "--profile",
    type=click.Choice(["auto", "okta", "entra", "entra-additive", "strict"]),
    default="auto",
    show_default=True,
    help="IdP compatibility profile (auto reads the User-Agent).",
)
@click.option("--idp", help="The IdP whose resources the token sees and owns (default: the name).")
@click.option("--shared", is_flag=True, help="See and write every IdP's resources (migrations).")
@click.option("--read-only", is_flag=True, help="Read and search only; writes get 403.")
@click.option("--rate", type=float, help="Its own requests per second (0: no limit).")
@click.option("--burst", type=int, help="Its own burst (requests at once after a pause).")
@click.option("--max-concurrent", type=int, help="Its own cap on requests in flight (0: none).")
@click.pass_context
def token_create(
    ctx: click.Context,
    name: str,
    profile: str,
    idp: str | None,
    shared: bool,
    read_only: bool,
    rate: float | None,
    burst: int | None,
    max_concurrent: int | None,
) -> None:
    """Create a token; it is printed once, alone on the last line, and only its hash is kept."""
    from scim_bridge.directory.rate_limits import check_limits, set_token_limits
    from scim_bridge.directory.tokens import create_token

    # Checked before anything is stored: a bad limit creates no token.
    check_limits(rate_per_second=rate, burst=burst, max_concurrent=max_concurrent)
    with opened(settings_of(ctx)) as database, database.write() as session:
        row, plaintext = create_token(
            session, name, profile=profile, idp=idp, shared=shared, read_only=read_only, now=now()
        )
        set_token_limits(
            session, row.name, rate_per_second=rate, burst=burst, max_concurrent=max_concurrent
        )
        click.echo(
            f"created token {row.name!r} (IdP {row.idp}, profile {row.profile}); "
            "store it now, it cannot be shown again:",
            err=True,
        )
    click.echo(plaintext)


@token.command("rotate")
@click.argument("name")
@click.option(
    "--overlap",
    help="How long the old value keeps working, e.g. 30m, 24h, 7d "
    "(default: the token_rotation_overlap_hours setting, 24h).",
)
@click.pass_context
def token_rotate(ctx: click.Context, name: str, overlap: str | None) -> None:
    """Give a token a new value (same name, IdP, profile); printed once on the last line."""
    from scim_bridge.directory.tokens import overlap_end, parse_duration, rotate_token

    settings = settings_of(ctx)
    at = now()
    keep = (
        parse_duration(overlap)
        if overlap is not None
        else timedelta(hours=settings.token_rotation_overlap_hours)
    )
    with opened(settings) as database, database.write() as session:
        row, plaintext = rotate_token(session, name, overlap=keep, now=at)
        until = overlap_end(row, now=at)
        click.echo(
            f"rotated token {row.name!r} (IdP {row.idp}); the old value "
            + (f"works until {until:%Y-%m-%d %H:%M:%S} UTC" if until else "stopped now")
            + "; store the new one now, it cannot be shown again:",
            err=True,
        )
    click.echo(plaintext)


@token.command("list")
@click.pass_context
def token_list(ctx: click.Context) -> None:
    """List tokens (name, IdP, profile, access, prefix, created, last used, status)."""
    from scim_bridge.directory.tokens import describe, list_tokens

    at = now()
    with opened(settings_of(ctx)) as database, database.read() as session:
        rows = [describe(r, now=at) for r in list_tokens(session)]
    click.echo(
        f"{'NAME':<24} {'IDP':<20} {'PROFILE':<8} {'ACCESS':<18} {'PREFIX':<10} "
        f"{'CREATED':<20} {'LAST USED':<20} STATUS"
    )
    for r in rows:
        click.echo(
            f"{r['name']:<24} {r['idp']:<20} {r['profile']:<8} {r['access']:<18} "
            f"{r['prefix']:<10} {r['created']:<20} {r['last_used']:<20} {r['status']}"
        )


@token.command("revoke")
@click.argument("name")
@click.pass_context
def token_revoke(ctx: click.Context, name: str) -> None:
    """Revoke a token by name: its value and a rotation's old value are refused from now on."""
    from scim_bridge.directory.tokens import revoke_token

    with opened(settings_of(ctx)) as database, database.write() as session:
        revoke_token(session, name, now=now())
    click.echo(f"revoked token {name!r}")


@token.command("limit")
@click.argument("name")
@click.option("--rate", type=float, help="Requests per second (0: no limit).")
@click.option("--burst", type=int, help="Requests at once after a quiet spell (at least 1).")
@click.option("--max-concurrent", type=int, help="Requests in flight per API process (0: none).")
@click.option("--reset", is_flag=True, help="Follow the settings' defaults again.")
@click.pass_context
def token_limit(
    ctx: click.Context,
    name: str,
    rate: float | None,
    burst: int | None,
    max_concurrent: int | None,
    reset: bool,
) -> None:
    """Show or set a token's own rate limit, burst and concurrency cap (issue 14)."""
    from scim_bridge.directory.rate_limits import Limits, describe_limits, set_token_limits

    settings = settings_of(ctx)
    defaults = Limits(
        rate_per_second=settings.scim_rate_per_second,
        burst=settings.scim_rate_burst,
        max_concurrent=settings.scim_max_concurrent,
    )
    with opened(settings) as database, database.write() as session:
        row = set_token_limits(
            session,
            name,
            rate_per_second=rate,
            burst=burst,
            max_concurrent=max_concurrent,
            reset=reset,
        )
        click.echo(f"token {row.name!r}: {describe_limits(row, defaults)}")


COMMANDS = (token,)
