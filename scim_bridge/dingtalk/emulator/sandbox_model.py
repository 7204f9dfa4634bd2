"""What the console's sandbox view reads from the emulator: typed answers and the reader's shape.

Apart from ``read_api.py`` (which speaks HTTP) so the console can name these types without
importing an HTTP client: a web request never speaks HTTP to the outside (design.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class SandboxDepartment:
    """One department of the emulator: its place in the tree and how many people it holds."""

    dept_id: int
    name: str
    parent_id: int
    people: int  # direct members only (a person may sit in several departments)


@dataclass(frozen=True)
class SandboxTree:
    """Every department of the emulator, and how many people it holds in all."""

    org_name: str
    people: int
    departments: tuple[SandboxDepartment, ...]


@dataclass(frozen=True)
class SandboxPerson:
    """One person as the sandbox lists them."""

    userid: str
    name: str
    title: str
    manager: str  # the manager's name; "" when there is none or they are gone


@dataclass(frozen=True)
class SandboxPage:
    """One page of a department's direct members, ordered by name then userid."""

    dept_id: int
    name: str
    total: int
    page: int
    size: int
    pages: int
    people: tuple[SandboxPerson, ...]


class NotInSandbox(LookupError):
    """The emulator holds no such department, or the department has no such page."""


class SandboxReader(Protocol):
    """What the console's sandbox view reads (OSError when the emulator does not answer)."""

    def tree(self) -> SandboxTree:
        """Return the department tree with people counts."""
        ...

    def people(self, dept_id: int, *, page: int, size: int) -> SandboxPage:
        """Return one page of a department's people; NotInSandbox for a miss."""
        ...
