"""`scim-bridge admin`: the console's accounts (issue 13), apart from the SCIM tokens."""

from __future__ import annotations

import sys

import click

from scim_bridge.cli.root import now, opened, settings_of
from scim_bridge.errors import ConfigError


@click.group()
def admin() -> None:
    """Create, list and disable the accounts that sign in to the /admin console."""


@admin.command("create")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(["admin", "viewer"]),
    default="admin",
    show_default=True,
    help="admin acts (retry, drop, sync now); viewer only sees.",
)
@click.option(
    "--password-stdin",
    "password_stdin",
    is_flag=True,
    help="Read the password from the first line of stdin (never from the command line).",
)
@click.pass_context
def admin_create(ctx: click.Context, name: str, role: str, password_stdin: bool) -> None:
    """Create a console account; only an scrypt hash of its password is kept."""
    from scim_bridge.directory.admins import check_new_account, create_admin, hash_password

    if not password_stdin:
        raise ConfigError(
            "give the password on stdin: `printf '%s\\n' \"$PASSWORD\" | "
            "scim-bridge admin create NAME --password-stdin`"
        )
    password = sys.stdin.readline().rstrip("\r\n")
    check_new_account(name, role, password)
    hashed = hash_password(password)  # slow by design: before the transaction opens
    with opened(settings_of(ctx)) as database, database.write() as session:
        account = create_admin(session, name, role=role, password_hash=hashed, now=now())
    click.echo(f"created {account.role} {account.name!r}; sign in at /admin")


@admin.command("list")
@click.pass_context
def admin_list(ctx: click.Context) -> None:
    """List console accounts (name, role, status, created, last sign-in)."""
    from scim_bridge.directory.admins import list_admins

    with opened(settings_of(ctx)) as database, database.read() as session:
        rows = list_admins(session)
    click.echo(f"{'NAME':<24} {'ROLE':<8} {'STATUS':<9} {'CREATED':<20} LAST SIGN-IN")
    for r in rows:
        last = f"{r.last_login_at:%Y-%m-%d %H:%M:%S}" if r.last_login_at else "never"
        click.echo(
            f"{r.name:<24} {r.role:<8} {'disabled' if r.disabled else 'enabled':<9} "
            f"{r.created_at:%Y-%m-%d %H:%M:%S}  {last}"
        )


@admin.command("disable")
@click.argument("name")
@click.pass_context
def admin_disable(ctx: click.Context, name: str) -> None:
    """Disable an account: it can no longer sign in, and its open sessions end."""
    from scim_bridge.directory.admins import disable_admin

    with opened(settings_of(ctx)) as database, database.write() as session:
        disable_admin(session, name)
    click.echo(f"disabled {name!r}")


COMMANDS = (admin,)
