"""Control-API reads for the console's sandbox view, sized for 100,000 people.

``GET /__emulator__/tree`` answers the department tree with each department's count of direct
members (no people); ``GET /__emulator__/people?dept_id=ID&page=N&size=S`` answers one page of a
department's direct members in a stable order (name, then userid). Neither copies the org:
``GET /__emulator__/state`` does, and at 100,000 people that is megabytes per page view.

Who is in which department comes from a ``MemberIndex``, rebuilt in one pass over the users
only when the org changed since the last read (the emulator counts its changes), and each
department's order is sorted only when that department is first asked for. So a console
reading a quiet org costs O(departments) for the tree and O(page) for a page; the first read
after a change costs one pass over the users. Derived from the org on demand, the index cannot
drift from it: there is no second copy to keep in step on every create, update, move or delete.
"""

from __future__ import annotations

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


class MemberIndex:
    """Each department's direct members, derived from the org at a given revision."""

    def __init__(self) -> None:
        self._revision = -1
        self._members: dict[int, list[str]] = {}
        self._ordered: set[int] = set()

    def refresh(self, directory: Directory, revision: int) -> None:
        """Rebuild from the org if it changed since the last refresh (call under the lock)."""
        if revision == self._revision:
            return
        members: defaultdict[int, list[str]] = defaultdict(list)
        for userid, user in directory.users.items():
            # Ids are ints already (users.py and Directory.load store them so). A user without
            # departments sits in the root (dingtalk-api.md §3.1).
            for dept_id in user["dept_id_list"] or (ROOT_DEPT_ID,):
                members[dept_id].append(userid)
        self._members, self._ordered, self._revision = dict(members), set(), revision

    def count(self, dept_id: int) -> int:
        """Return how many people are directly in the department."""
        return len(self._members.get(dept_id, ()))

    def slice(self, directory: Directory, dept_id: int, start: int, stop: int) -> list[str]:
        """Return the userids at [start, stop) of the department, ordered by name then userid."""
        found = self._members.get(dept_id, [])
        if dept_id not in self._ordered:
            users = directory.users
            found.sort(key=lambda userid: (str(users[userid]["name"]), userid))
            self._ordered.add(dept_id)
        return found[start:stop]


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
                for userid in index.slice(directory, dept_id, start, start + size)
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
