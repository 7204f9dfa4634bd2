"""The console's sandbox view: the query it accepts and the department tree it draws.

Pure parts, no Flask: ``sandbox_query`` turns ``?dept=ID&page=N`` into numbers or refuses them
(400), ``arrange`` turns the emulator's flat department list into a tree with the selected
department's branch open. O(departments): the people come a page at a time, separately.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from scim_bridge.dingtalk.emulator.sandbox_model import SandboxTree
from scim_bridge.errors import BadRequest

ROOT_DEPT_ID = 1  # dingtalk-api.md §4: the root department is id 1
#: People per page of a department (the emulator serves at most 100).
PAGE_SIZE = 50
#: Numbers above this are no department id or page anyone can mean (DingTalk ids are < 2^31).
LARGEST = 2**31 - 1


@dataclass(frozen=True)
class SandboxQuery:
    """Which department and which page of its people the page shows."""

    dept_id: int = ROOT_DEPT_ID
    page: int = 1


def sandbox_query(args: Mapping[str, str]) -> SandboxQuery:
    """Read ``dept`` and ``page`` from the query string; BadRequest names the bad one."""
    return SandboxQuery(
        dept_id=_whole(args.get("dept"), "dept", "a department id, e.g. ?dept=1 (the root)"),
        page=_whole(args.get("page"), "page", "a page number from 1, e.g. ?page=2"),
    )


def _whole(raw: str | None, name: str, example: str) -> int:
    default = ROOT_DEPT_ID if name == "dept" else 1
    if raw is None or raw.strip() == "":
        return default
    text = raw.strip()
    digits = text.isascii() and text.isdigit() and len(text) <= len(str(LARGEST))
    if not digits or not 1 <= int(text) <= LARGEST:
        raise BadRequest(f"{name} must be {example}; got {raw[:40]!r}")
    return int(text)


@dataclass
class TreeNode:
    """One department in the drawn tree."""

    dept_id: int
    name: str
    people: int
    children: list[TreeNode] = field(default_factory=list)
    open: bool = False  # drawn expanded: the root, and the branch down to the selected one
    selected: bool = False


@dataclass(frozen=True)
class DrawnTree:
    """The tree to draw, and the selected department's node in it (None: not under the root)."""

    root: TreeNode | None
    selected: TreeNode | None


def arrange(tree: SandboxTree, *, selected: int) -> DrawnTree:
    """Arrange the emulator's departments under the root, the selected one's branch open."""
    nodes = {d.dept_id: TreeNode(d.dept_id, d.name, d.people) for d in tree.departments}
    root = nodes.get(ROOT_DEPT_ID)
    if root is None:
        return DrawnTree(None, None)
    parents = {d.dept_id: d.parent_id for d in tree.departments}
    for dept_id, node in nodes.items():
        parent = nodes.get(parents[dept_id])
        if parent is not None and dept_id != ROOT_DEPT_ID:
            parent.children.append(node)
    for node in nodes.values():
        node.children.sort(key=lambda c: (c.name, c.dept_id))
    root.open = True
    chosen = nodes.get(selected)
    current, seen = chosen, set()
    if chosen is not None:
        chosen.selected = True
    while current is not None and current.dept_id not in seen:  # a cycle in a loaded snapshot
        seen.add(current.dept_id)
        current.open = True
        current = nodes.get(parents[current.dept_id])
    return DrawnTree(root, chosen)


#: One step of drawing the tree: a department with sub-departments opens a list, a leaf is
#: drawn whole, and each opened list is closed once its departments are drawn.
Step = tuple[Literal["open", "leaf", "close"], TreeNode]


def walk(root: TreeNode) -> Iterator[Step]:
    """Yield the steps that draw the tree in order, without recursion in the template.

    A Jinja2 macro call per department (and a url_for per link) cost more than everything
    else on the page at 200 departments; a flat loop costs a fraction of that."""
    stack: list[tuple[TreeNode, int]] = [(root, 0)]
    while stack:
        node, next_child = stack.pop()
        if next_child == 0:
            if not node.children:
                yield "leaf", node
                continue
            yield "open", node
        if next_child < len(node.children):
            stack.append((node, next_child + 1))
            stack.append((node.children[next_child], 0))
        else:
            yield "close", node
