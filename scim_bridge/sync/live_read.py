"""Read what DingTalk holds now, through the client and within its rate limiter (issue 10).

dingtalk-api.md §3.5 and §12.6: there is no "all users" call, so the whole directory is walked:
the department tree one level at a time (``listsub``), each department's details
(``department/get``: ``listsub`` omits ``source_identifier`` and ``order``), then each
department's direct members paged with ``v2/user/list`` (100 a page), de-duplicated by userid.
``v2/user/list`` does not carry ``manager_userid``, so people whose manager the bridge set are
read once more with ``user/get`` (the "detail calls" of the estimate). A few calls are in flight
at a time (``Reader``) and the quota being per API, different APIs are read side by side.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, TypeVar

from scim_bridge.dingtalk.client import ROOT_DEPT_ID, DingTalkClient
from scim_bridge.errors import DingTalkNotFound

T = TypeVar("T")
R = TypeVar("R")
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


@dataclass
class Reader:
    """Reads through one client from a small thread pool (the client is thread-safe).

    DingTalk answers in tens of milliseconds while its quota allows one call per API every
    50 ms (20 QPS): one call at a time would be bound by latency, not by the quota. A few
    calls in flight keep each API's limiter full, so a walk takes about calls / QPS (issue 10,
    acceptance 4). Results are merged in request order, so the outcome does not depend on
    which answer came first.
    """

    client: DingTalkClient
    threads: int = 8
    progress: Progress = _noop

    def map(self, step: str, fn: Callable[[T], R], items: Iterable[T]) -> list[tuple[T, R]]:
        """Call ``fn`` on every item, a few at a time; return (item, result) in item order."""
        wanted = list(items)
        if self.threads <= 1 or len(wanted) <= 1:
            out = []
            for done, item in enumerate(wanted, 1):
                out.append((item, fn(item)))
                self.progress(step, done, len(wanted))
            return out
        pool = ThreadPoolExecutor(min(self.threads, len(wanted)), thread_name_prefix="reconcile")
        try:
            futures = {pool.submit(fn, item): n for n, item in enumerate(wanted)}
            results: dict[int, R] = {}
            for done, future in enumerate(as_completed(futures), 1):
                results[futures[future]] = future.result()
                self.progress(step, done, len(wanted))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return [(item, results[n]) for n, item in enumerate(wanted)]

    def tree(self) -> list[int]:
        """Return every department id below the root, one ``listsub`` per department."""
        found: list[int] = []
        seen = {ROOT_DEPT_ID}
        level = [ROOT_DEPT_ID]
        while level:
            nxt: list[int] = []
            for _, children in self.map("departments", self._children, level):
                for child in children:
                    child_id = int(child.get("dept_id") or 0)
                    if child_id and child_id not in seen:
                        seen.add(child_id)
                        nxt.append(child_id)
            found += nxt
            level = nxt
        return found

    def _children(self, parent: int) -> list[dict[str, Any]]:
        try:
            return self.client.list_sub_departments(parent)
        except DingTalkNotFound as exc:
            if exc.reason != DEPT_GONE:
                raise
            return []  # deleted while we walked: its children went with it

    def departments(self, dept_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """Read each department's details; one that is gone is simply absent."""
        wanted = [d for d in dict.fromkeys(dept_ids) if d != ROOT_DEPT_ID]
        read = self.map("department details", self._department, wanted)
        return {dept_id: record for dept_id, record in read if record is not None}

    def _department(self, dept_id: int) -> dict[str, Any] | None:
        try:
            return department_record(self.client.get_department(dept_id))
        except DingTalkNotFound as exc:
            if exc.reason != DEPT_GONE:
                raise
            return None

    def members(self, dept_ids: Iterable[int], into: dict[str, dict[str, Any]]) -> None:
        """Page each department's direct members into ``into`` (by userid, once each)."""
        for _, people in self.map("members", self._members, list(dict.fromkeys(dept_ids))):
            for user in people:
                userid = str(user.get("userid") or "")
                if userid and userid not in into:
                    into[userid] = dict(user)

    def _members(self, dept_id: int) -> list[dict[str, Any]]:
        try:
            return list(self.client.iter_department_users(dept_id))
        except DingTalkNotFound as exc:
            if exc.reason != DEPT_GONE:
                raise
            return []

    def details(self, live: LiveDirectory, userids: Iterable[str]) -> None:
        """Read people with ``user/get`` (their manager); one gone meanwhile leaves the read."""
        wanted = [u for u in dict.fromkeys(userids) if u not in live.detailed]
        for userid, found in self.map("details", self.client.find_user, wanted):
            if found is None:
                live.users.pop(userid, None)
                live.gone.add(userid)
            else:
                live.users[userid] = found
                live.detailed.add(userid)


def read_details(
    client: DingTalkClient,
    live: LiveDirectory,
    userids: Iterable[str],
    *,
    progress: Progress = _noop,
    threads: int = 8,
) -> None:
    """Read people with ``user/get`` into ``live`` (their manager, or that they are gone)."""
    Reader(client, threads, progress).details(live, userids)


def read_whole(
    client: DingTalkClient,
    *,
    detail_userids: Collection[str],
    dept_ids: Iterable[int] | None = None,
    progress: Progress = _noop,
    threads: int = 8,
) -> LiveDirectory:
    """Read the directory: every department (or only ``dept_ids``), members, and details.

    DingTalk's quota is per API (dingtalk-api.md §8), so the calls of different APIs run side
    by side: ``user/get`` of the people known up front from the start, ``department/get`` and
    the member pages once the tree is known.
    """
    reader = Reader(client, threads, progress)
    live = LiveDirectory()
    with ThreadPoolExecutor(2, thread_name_prefix="reconcile-lane") as lanes:
        details = lanes.submit(reader.map, "details", client.find_user, sorted(detail_userids))
        ids = reader.tree() if dept_ids is None else list(dept_ids)
        departments = lanes.submit(reader.departments, ids)
        members = [ROOT_DEPT_ID, *ids] if dept_ids is None else ids
        reader.members(members, live.users)
        live.departments = departments.result()
        live.read_departments = set(ids)
        read = details.result()
    for userid, found in read:
        if found is None:
            live.users.pop(userid, None)
            live.gone.add(userid)
        else:
            live.users[userid] = found
            live.detailed.add(userid)
    return live


def read_records(
    client: DingTalkClient,
    *,
    userids: Iterable[str] = (),
    dept_ids: Iterable[int] = (),
    threads: int = 8,
) -> LiveDirectory:
    """Read only these people (``user/get``) and departments (``department/get``)."""
    reader = Reader(client, threads)
    live = LiveDirectory()
    live.read_departments = set(dept_ids)
    live.departments = reader.departments(live.read_departments)
    reader.details(live, userids)
    return live
