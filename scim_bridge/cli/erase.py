"""`scim-bridge erase USER`: erase one person (GDPR, PDPO) and show the receipts.

The person goes from the store, from the audit payloads (their hashes stay: `audit verify`
still passes) and from DingTalk through the translator; the receipt says who asked, when,
what went, and DingTalk's confirmation once the translator reports it (docs/audit.md).
"""

from __future__ import annotations

import getpass

import click

from scim_bridge.cli.root import now, opened, settings_of


@click.command("erase")
@click.argument("user", required=False)
@click.option("--yes", is_flag=True, help="Erase without asking.")
@click.option("--actor", help="Who asks for the erasure (default: the OS user).")
@click.option("--receipt", "receipt_id", type=int, help="Show this erasure receipt instead.")
@click.pass_context
def erase(
    ctx: click.Context, user: str | None, yes: bool, actor: str | None, receipt_id: int | None
) -> None:
    """Erase a person: USER is a SCIM id, a userName or a DingTalk userid."""
    from scim_bridge.directory.models import ErasureReceipt
    from scim_bridge.monitor.audit_history import resolve
    from scim_bridge.monitor.erasure import erase as erase_person
    from scim_bridge.monitor.erasure import plan_erasure, receipt_lines
    from scim_bridge.sync.wakeup import notify_local, socket_path

    settings = settings_of(ctx)
    if receipt_id is not None:
        with opened(settings) as database, database.read() as session:
            found = session.get(ErasureReceipt, receipt_id)
            if found is None:
                raise click.ClickException(
                    f"no erasure receipt {receipt_id}; `scim-bridge audit erasures` lists them"
                )
            click.echo("\n".join(receipt_lines(found)))
        return
    if not user:
        raise click.UsageError("name the person to erase (or pass --receipt ID)")
    who = (actor or getpass.getuser()).strip()
    if not who:
        raise click.BadParameter("must not be empty", param_hint="--actor")
    with opened(settings) as database:
        with database.read() as session:
            scim_id = resolve(session, user)
            plan = plan_erasure(session, scim_id)
        if not yes:
            click.echo(f"erasing {user} removes:")
            for line in plan.lines():
                click.echo(f"  - {line}")
            click.confirm("erase this person for good?", abort=True)
        receipt = erase_person(database, scim_id, actor=who, now=now())
    notify_local(socket_path(settings))  # a translator on this host removes them now
    click.echo(
        f"erased User {scim_id}: receipt {receipt} (`scim-bridge erase --receipt {receipt}`"
        " shows DingTalk's confirmation once the translator removed them)"
    )


COMMANDS = (erase,)
