"""Control-API reads for the console's sandbox view, sized for 100,000 people.

``GET /__emulator__/tree`` answers the department tree with each department's count of direct
members (no people); ``GET /__emulator__/people?dept_id=ID&page=N&size=S`` answers one page of a
department's direct members in a stable order (name, then userid). Neither copies the org:
``GET /__emulator__/state`` does, and at 100,000 people that is megabytes per page view.

Who is in which department, in order, comes from a ``MemberIndex``, checked against the org
only when the org changed since the last read (the emulator counts its changes). So a console
reading a quiet org costs O(departments) for the tree and O(page) for a page; the first read
after a change costs one pass over the users plus re-placing the people who changed.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from scim_bridge.dingtalk.emulator.state import ROOT_DEPT_ID, Directory
from scim_bridge.dingtalk.emulator.wire import Reply

if TYPE_CHECKING:
    from scim_bridge.dingtalk.emulator.app import Emulator

#: A page holds at most this many people (the console asks for fewer).
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50


class BadQuery(ValueError):
    """A query parameter the read endpoints cannot use (answered 400)."""


class Missing(LookupError):
    """No such department, or a page past its last one (answered 404)."""


#: Above this many changed people a refresh rebuilds and sorts afresh instead of patching.
PATCH_LIMIT = 1000

#: (name, userid): a department's members sort by name, then userid, as tuples do.
Entry = tuple[str, str]


class MemberIndex:
    """Each department's direct members in order, checked against the org when it changed.

    A refresh after a change compares every user's name and departments with what the index
    holds (one pass, no allocation for an unchanged user) and moves only those that differ,
    with a binary search into the department's sorted list, so a change costs one pass plus
    O(size of the departments touched), not a re-sort. A new org (load, reset) or a large
    change is rebuilt and sorted in one go. Comparing with the org itself, not being told
    what changed, is what keeps the index exact whatever code path wrote the users.
    """

    def __init__(self) -> None:
        self._revision = -1
        self._directory: Directory | None = None
        self._members: dict[int, list[Entry]] = {}
        self._placed: dict[str, tuple[str, list[int]]] = {}  # userid -> as indexed

    def refresh(self, directory: Directory, revision: int) -> None:
        """Bring the index up to date with the org if it changed (call under the lock)."""
        if revision == self._revision and directory is self._directory:
            return
        changed = self._changes(directory) if directory is self._directory else None
        if changed is None:
            self._rebuild(directory)
        else:
            for userid in changed:
                self._move(userid, directory.users.get(userid))
        self._revision, self._directory = revision, directory

    def _changes(self, directory: Directory) -> list[str] | None:
        """Return who joined, left or changed name or departments; None: too many to patch."""
        placed, users = self._placed, directory.users
        held_by = placed.get  # the loop below runs 100,000 times: keep its body minimal
        changed: list[str] = []
        joined = 0
        for userid, user in users.items():
            held = held_by(userid)
            if held is None:
                joined += 1
            elif held[0] == user["name"] and held[1] == user["dept_id_list"]:
                continue
            changed.append(userid)
            if len(changed) > PATCH_LIMIT:
                return None
        if len(users) - joined < len(placed):  # someone left
            changed += [userid for userid in placed if userid not in users]
        return changed

    def _rebuild(self, directory: Directory) -> None:
        members: defaultdict[int, list[Entry]] = defaultdict(list)
        placed: dict[str, tuple[str, list[int]]] = {}
        for userid, user in directory.users.items():
            name, depts = str(user["name"]), list(user["dept_id_list"])
            placed[userid] = (name, depts)
            for dept_id in _homes(depts):
                members[dept_id].append((name, userid))
        for entries in members.values():
            entries.sort()
        self._members, self._placed = dict(members), placed

    def _move(self, userid: str, user: Mapping[str, Any] | None) -> None:
        held = self._placed.pop(userid, None)
        if held is not None:
            for dept_id in _homes(held[1]):
                entries = self._members.get(dept_id, [])
                at = bisect_left(entries, (held[0], userid))
                if at < len(entries) and entries[at] == (held[0], userid):
                    del entries[at]
        if user is not None:
            name, depts = str(user["name"]), list(user["dept_id_list"])
            self._placed[userid] = (name, depts)
            for dept_id in _homes(depts):
                insort(self._members.setdefault(dept_id, []), (name, userid))

    def count(self, dept_id: int) -> int:
        """Return how many people are directly in the department."""
        return len(self._members.get(dept_id, ()))

    def slice(self, dept_id: int, start: int, stop: int) -> list[str]:
        """Return the userids at [start, stop) of the department, ordered by name then userid."""
        return [userid for _name, userid in self._members.get(dept_id, [])[start:stop]]


def _homes(depts: list[int]) -> list[int]:
    # Ids are ints already (users.py and Directory.load store them so); a department listed
    # twice counts once; a user without departments sits in the root (dingtalk-api.md §3.1).
    return list(dict.fromkeys(depts)) if depts else [ROOT_DEPT_ID]


def answer(emulator: Emulator, action: str, args: Mapping[str, str]) -> Reply:
    """Answer GET /__emulator__/tree or /people; 400 for a bad parameter, 404 for a miss."""
    try:
        if action == "tree":
            return Reply(200, emulator.inspect(tree))
        dept_id = _whole(args, "dept_id", default=ROOT_DEPT_ID, low=1)
        page = _whole(args, "page", default=1, low=1)
        size = _whole(args, "size", default=DEFAULT_PAGE_SIZE, low=1, high=MAX_PAGE_SIZE)
        return Reply(200, emulator.inspect(people_reader(dept_id, page=page, size=size)))
    except BadQuery as exc:
        return Reply(400, {"error": str(exc)})
    except Missing as exc:
        return Reply(404, {"error": str(exc)})


#: The control actions this module answers.
ACTIONS = frozenset({"tree", "people"})


def tree(directory: Directory, index: MemberIndex) -> dict[str, Any]:
    """Return every department (id, name, parent, direct member count) and the people total."""
    return {
        "org_name": directory.org_name,
        "people": len(directory.users),
        "departments": [
            {
                "dept_id": dept_id,
                "name": dept["name"],
                "parent_id": dept["parent_id"],
                "people": index.count(dept_id),
            }
            for dept_id, dept in sorted(directory.depts.items())
        ],
    }


def people_reader(
    dept_id: int, *, page: int, size: int
) -> Callable[[Directory, MemberIndex], dict[str, Any]]:
    """Return a read of one page of a department's direct members (run under the lock)."""

    def read(directory: Directory, index: MemberIndex) -> dict[str, Any]:
        dept = directory.depts.get(dept_id)
        if dept is None:
            raise Missing(f"no department {dept_id} in the emulator")
        total = index.count(dept_id)
        pages = max(1, -(-total // size))
        if page > pages:
            raise Missing(f"department {dept_id} has {pages} page(s) of {size}; no page {page}")
        start = (page - 1) * size
        users = directory.users
        return {
            "dept_id": dept_id,
            "name": dept["name"],
            "total": total,
            "page": page,
            "size": size,
            "pages": pages,
            "people": [
                _person(users[userid], users)
                for userid in index.slice(dept_id, start, start + size)
            ],
        }

    return read


def _person(user: Mapping[str, Any], users: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    manager = users.get(user.get("manager_userid") or "")
    return {
        "userid": user["userid"],
        "name": user["name"],
        "title": user.get("title", ""),
        "manager_userid": user.get("manager_userid", ""),
        "manager": manager["name"] if manager is not None else "",
    }


def _whole(args: Mapping[str, str], name: str, *, default: int, low: int, high: int = 0) -> int:
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9):
        raise BadQuery(f"{name} must be a whole number below 10^9, not {raw[:40]!r}")
    value = int(raw)
    if value < low or (high and value > high):
        bound = f"between {low} and {high}" if high else f"at least {low}"
        raise BadQuery(f"{name} must be {bound}, not {value}")
    return value
