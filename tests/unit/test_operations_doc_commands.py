"""Every `scim-bridge …` command docs/operations.md tells an operator to type exists as written.

The runbook is read during an incident: a command or option it names that the CLI does not
have costs minutes nobody has then. This resolves each one through the real click tree.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click

from scim_bridge.cli import main

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
#: `scim-bridge …` inside backticks, or a line of a shell block that runs scim-bridge.
_INLINE = re.compile(r"`(?:[\w/.-]*bin/)?scim-bridge ([a-z][^`]*)`")
_SHELL = re.compile(r"(?:^|\s)(?:[\w/.-]*bin/)?scim-bridge ([a-z][^\n#|>]*)")


def commands() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    found = _INLINE.findall(text)
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        joined = block.replace("\\\n", " ")
        found += _SHELL.findall(joined)
    return sorted({f.strip() for f in found})


def resolve(words: list[str]) -> tuple[click.Command, list[str]]:
    command: click.Command = main
    while isinstance(command, click.Group) and words and words[0] in command.commands:
        command = command.commands[words.pop(0)]
    return command, words


def test_the_runbook_names_commands() -> None:
    assert len(commands()) > 20


def test_every_command_and_option_in_the_runbook_exists() -> None:
    wrong = []
    for line in commands():
        words = shlex.split(line.replace("…", ""))
        command, rest = resolve(list(words))
        if isinstance(command, click.Group):
            wrong.append(f"{line!r}: no such command")
            continue
        known = {opt for p in command.params for opt in getattr(p, "opts", [])}
        unknown = [w for w in rest if w.startswith("--") and w.split("=")[0] not in known]
        if unknown:
            wrong.append(f"{line!r}: {command.name} has no {', '.join(unknown)}")
    assert wrong == []
