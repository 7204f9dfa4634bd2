"""`scim-bridge mapping`: check mapping rule files before they are deployed."""

from __future__ import annotations

import click


@click.group()
def mapping() -> None:
    """Check mapping rule files."""


@mapping.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
def mapping_check(path: str) -> None:
    """Validate a mapping file; each problem names the line, the key and the fix."""
    from scim_bridge.mapping.rules import check_rules_file

    # The one command that prints every problem, one per line: it exists to list them.
    problems = check_rules_file(path)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise SystemExit(1)
    click.echo(f"{path}: ok")


COMMANDS = (mapping,)
