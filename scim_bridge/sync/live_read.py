"""Read what DingTalk holds now, through the client and within its rate limiter (issue 10).

dingtalk-api.md §3.5 and §12.6: there is no "all users" call, so the whole directory is walked:
the department tree one level at a time (``listsub``), each department's details
(``department/get``: ``listsub`` omits ``source_identifier`` and ``order``), then each
department's direct members paged with ``v2/user/list`` (100 a page), de-duplicated by userid.
``v2/user/list`` does not carry ``manager_userid``, so people whose manager matters are read once
more with ``user/get`` (the "detail calls" of the estimate).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from scim_bridge.dingtalk.client import ROOT_DEPT_ID, DingTalkClient
from scim_bridge.errors import DingTalkNotFound

#: Called as reading goes: (step, done, total); total 0 when not known yet.
Progress = Callable[[str, int, int], None]
#: DingTalk's answer when a department is gone (dingtalk-api.md §4.4, §10).
DEPT_GONE = "60003"
#: Department fields the decision engine compares (decide.ensure_department).
DEPT_FIELDS = ("name", "parent_id", "source_identifier", "order")


@dataclass
class LiveDirectory:
    """What DingTalk holds, as the decision engine's CurrentState wants it."""

    #: {userid: the v2/user/list record (or user/get's), "manager_userid" when read}
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: {dept_id: {name, parent_id, source_identifier, order}} (the root not included)
    departments: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: userids read with user/get: their manager_userid is DingTalk's, not assumed
    detailed: set[str] = field(default_factory=set)
    #: userids user/get answered "no such user" for
    gone: set[str] = field(default_factory=set)
    #: dept_ids asked for with department/get (found or gone)
    read_departments: set[int] = field(default_factory=set)


def _noop(step: str, done: int, total: int) -> None:
    """Report nothing."""


def department_record(details: dict[str, Any]) -> dict[str, Any]:
    """Keep the fields of a ``department/get`` answer the decision engine compares."""
    out = {name: details.get(name) for name in DEPT_FIELDS}
    out["parent_id"] = int(out["parent_id"] or ROOT_DEPT_ID)
    return out


def read_tree(client: DingTalkClient, *, progress: Progress = _noop) -> list[int]:
    """Return every department id below the root, walking ``listsub`` one level a call."""
    found: list[int] = []
    queue = deque([ROOT_DEPT_ID])
    seen = {ROOT_DEPT_ID}
    while queue:
        parent = queue.popleft()
        try:
            children = client.list_sub_departments(parent)
        except DingTalkNotFound as exc:
            if exc.reason != DEPT_GONE:
                raise
            continue  # deleted while we walked: its children went with it
        for child in children:
            child_id = int(child.get("dept_id") or 0)
            if child_id and child_id not in seen:
                seen.add(child_id)
                found.append(child_id)
                queue.append(child_id)
        progress("departments", len(found), 0)
    return found


def read_departments(
    client: DingTalkClient, dept_ids: Iterable[int], *, progress: Progress = _noop
) -> dict[int, dict[str, Any]]:
    """Read each department's details; one that is gone is simply absent."""
    wanted = [d for d in dict.fromkeys(dept_ids) if d != ROOT_DEPT_ID]
    out: dict[int, dict[str, Any]] = {}
    for done, dept_id in enumerate(wanted, 1):
        try:
            out[dept_id] = department_record(client.get_department(dept_id))
        except DingTalkNotFound as exc:
            if exc.reason != DEPT_GONE:
                raise
        progress("department details", done, len(wanted))
    return out


def read_members(
    client: DingTalkClient,
    dept_ids: Iterable[int],
    into: dict[str, dict[str, Any]],
    *,
    progress: Progress = _noop,
) -> None:
    """Page each department's direct members into ``into`` (by userid, once each)."""
    wanted = list(dict.fromkeys(dept_ids))
    for done, dept_id in enumerate(wanted, 1):
        try:
            for user in client.iter_department_users(dept_id):
                userid = str(user.get("userid") or "")
                if userid and userid not in into:
                    into[userid] = dict(user)
        except DingTalkNotFound as exc:
            if exc.reason != DEPT_GONE:
                raise
        progress("members", done, len(wanted))


def read_details(
    client: DingTalkClient,
    live: LiveDirectory,
    userids: Iterable[str],
    *,
    progress: Progress = _noop,
) -> None:
    """Read people with ``user/get`` (their manager); one gone meanwhile leaves the directory."""
    wanted = [u for u in dict.fromkeys(userids) if u not in live.detailed]
    for done, userid in enumerate(wanted, 1):
        found = client.find_user(userid)
        if found is None:
            live.users.pop(userid, None)
            live.gone.add(userid)
        else:
            live.users[userid] = found
            live.detailed.add(userid)
        progress("details", done, len(wanted))


def read_whole(
    client: DingTalkClient,
    *,
    wants_detail: Callable[[str], bool],
    dept_ids: Iterable[int] | None = None,
    progress: Progress = _noop,
) -> LiveDirectory:
    """Read the directory: every department (or only ``dept_ids``), members, then details."""
    live = LiveDirectory()
    ids = read_tree(client, progress=progress) if dept_ids is None else list(dept_ids)
    live.departments = read_departments(client, ids, progress=progress)
    live.read_departments = set(ids)
    members = (
        [ROOT_DEPT_ID, *live.departments]
        if dept_ids is None
        else [d for d in ids if d == ROOT_DEPT_ID or d in live.departments]
    )
    read_members(client, members, live.users, progress=progress)
    read_details(
        client, live, [u for u in sorted(live.users) if wants_detail(u)], progress=progress
    )
    return live


def read_records(
    client: DingTalkClient, *, userids: Iterable[str] = (), dept_ids: Iterable[int] = ()
) -> LiveDirectory:
    """Read only these people (``user/get``) and departments (``department/get``)."""
    live = LiveDirectory()
    live.read_departments = set(dept_ids)
    live.departments = read_departments(client, live.read_departments)
    read_details(client, live, userids)
    return live
