"""The scale-out and reliability scenario (issue 14), shared by the e2e tests and bench/reliability.

Several IdP clients (threads) write through several API processes at once. Each client owns its
people and its groups, and keeps its own model of what it was told (every 2xx), so the expected
directory and the expected DingTalk projection come from the clients alone, not from the bridge.
A client retries as Okta and Entra do: an answer it never got (a killed API process, a database
restarting) is asked again, on the next API process, and a retry that finds its earlier attempt
done (409 on a create, 404 on a delete) counts it as done.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import requests
from e2e_harness import actual_projection
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import Engine

from scim_bridge.directory.models import AvailabilityMinute, JobTick

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
#: The statuses a client takes for "ask again": no answer, our outage, DingTalk never (a web
#: request never calls it), throttling of our own API.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: How long one request may keep being retried before the scenario fails.
REQUEST_PATIENCE = 90.0


@dataclass
class Person:
    """What one IdP client believes about one of its people."""

    external_id: str
    mobile: str
    group: str
    user_id: str = ""
    title: str = "Engineer"
    active: bool = True
    deleted: bool = False


@dataclass
class Stats:
    """Counts of one run, shared by every client (under a lock)."""

    requests: int = 0
    answered: Counter[int] = field(default_factory=Counter)
    unanswered: int = 0  # connection refused or reset: the API process was down
    writes_ok: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, status: int | None) -> None:
        """Count one HTTP attempt and its status (None: no answer)."""
        with self.lock:
            self.requests += 1
            if status is None:
                self.unanswered += 1
            else:
                self.answered[status] += 1


class Writer:
    """One IdP client with its own people and two groups, on every API process in turn."""

    def __init__(self, index: int, urls: list[str], token: str, *, seed: int, stats: Stats) -> None:
        self.index = index
        self.urls = urls
        self.rng = random.Random(seed * 100 + index)  # a reproducible scenario
        self.stats = stats
        self.session = requests.Session()
        self.session.headers.update(
            {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
        )
        self.people: list[Person] = []
        self.groups: dict[str, str] = {}  # group id -> displayName
        self._turn = index
        self._made = 0

    # --- requests ----------------------------------------------------------------------------

    def send(self, method: str, path: str, body: Any = None, *, ok: tuple[int, ...]) -> Any:
        """Send until an API process answers with one of ``ok``; return (status, JSON)."""
        deadline = time.monotonic() + REQUEST_PATIENCE
        tried = False
        while True:
            url = self.urls[self._turn % len(self.urls)]
            self._turn += 1
            status: int | None = None
            try:
                answer = self.session.request(method, f"{url}{path}", json=body, timeout=30)
                status = answer.status_code
            except requests.RequestException:
                answer = None
            self.stats.count(status)
            if answer is not None and status in ok:
                return status, (answer.json() if answer.content else None)
            # A retry of a create that had committed answers 409; of a delete, 404.
            if answer is not None and tried and _done_before(method, answer):
                return status, None
            if status is not None and status not in RETRY_STATUSES:
                raise AssertionError(f"{method} {path}: {status} {answer.text if answer else ''}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{method} {path}: no answer in {REQUEST_PATIENCE:.0f} s")
            tried = True
            time.sleep(0.2)

    def patch(self, path: str, *ops: dict[str, Any], ok: tuple[int, ...] = (200, 204)) -> None:
        """PATCH ``path`` with ``ops``."""
        self.send("PATCH", path, {"schemas": [PATCH], "Operations": list(ops)}, ok=ok)

    # --- the scenario ------------------------------------------------------------------------

    def setup(self) -> None:
        """Create this client's two groups (before any process is killed)."""
        for name in ("North", "South"):
            display = f"W{self.index} {name}"
            _, group = self.send("POST", "/Groups", {"displayName": display}, ok=(201,))
            self.groups[group["id"]] = display

    def run(self, *, until: float, max_writes: int) -> None:
        """Write until the monotonic time ``until`` or ``max_writes`` writes."""
        writes = 0
        while time.monotonic() < until and writes < max_writes:
            self.step()
            writes += 1
            with self.stats.lock:
                self.stats.writes_ok += 1

    def step(self) -> None:
        """One IdP change, chosen by the seeded generator."""
        live = [p for p in self.people if not p.deleted]
        roll = self.rng.random()
        # Removals stay near 15% of the people an hour: the mapping's mass-change guard (20%
        # an hour by default) holds a bigger wave for an operator, as it should.
        if not live or roll < 0.45:
            self.create()
        elif roll < 0.72:
            person = self.rng.choice(live)
            person.title = f"Engineer {self.rng.randint(1, 9)}"
            self.patch(f"/Users/{person.user_id}", _replace("title", person.title))
        elif roll < 0.91:
            self.move(self.rng.choice(live))
        elif roll < 0.97:
            person = self.rng.choice(live)
            person.active = not person.active
            self.patch(f"/Users/{person.user_id}", _replace("active", person.active))
        else:
            person = self.rng.choice(live)
            self.send("DELETE", f"/Users/{person.user_id}", ok=(204,))
            person.deleted = True

    def create(self) -> None:
        """Create one person and put them in one of this client's groups."""
        n = self._made
        self._made += 1
        external = f"w{self.index}n{n:05d}"
        person = Person(external, f"13{self.index}{n:08d}", self.rng.choice(list(self.groups)))
        body = {
            "schemas": [USER],
            "userName": f"{external}@example.com",
            "externalId": external,
            "displayName": f"Person {external}",
            "title": person.title,
            "active": True,
            "emails": [{"value": f"{external}@example.com", "type": "work", "primary": True}],
            "phoneNumbers": [{"value": f"+86 {person.mobile}", "type": "mobile"}],
        }
        status, made = self.send("POST", "/Users", body, ok=(201,))
        if status == 409:  # an earlier attempt committed: find it
            query = f'/Users?filter=userName eq "{external}@example.com"'
            _, found = self.send("GET", query, ok=(200,))
            made = found["Resources"][0]
        person.user_id = made["id"]
        self.people.append(person)
        self._add(person.group, person.user_id)

    def move(self, person: Person) -> None:
        """Move a person to this client's other group."""
        target = next(g for g in self.groups if g != person.group)
        remove = {"op": "remove", "path": f'members[value eq "{person.user_id}"]'}
        self.patch(f"/Groups/{person.group}", remove)
        self._add(target, person.user_id)
        person.group = target

    def _add(self, group: str, user_id: str) -> None:
        self.patch(
            f"/Groups/{group}", {"op": "add", "path": "members", "value": [{"value": user_id}]}
        )


def _done_before(method: str, answer: requests.Response) -> bool:
    """Whether a retry's answer says an earlier attempt, unanswered, had been done."""
    if (answer.status_code, method) in ((409, "POST"), (404, "DELETE")):
        return True
    # RFC 7644 §3.5.2.2: removing a member no longer there is a 400 noTarget.
    return answer.status_code == 400 and method == "PATCH" and "noTarget" in answer.text


def _replace(path: str, value: Any) -> dict[str, Any]:
    return {"op": "replace", "path": path, "value": value}


def expected_from_clients(writers: list[Writer]) -> dict[str, Any]:
    """What DingTalk must hold, from the clients' own models (the default mapping)."""
    users = {}
    for writer in writers:
        for p in writer.people:
            if p.deleted or not p.active:
                continue
            users[p.external_id] = {
                "name": f"Person {p.external_id}",
                "mobile": p.mobile,
                "email": f"{p.external_id}@example.com",
                "title": p.title,
                "departments": [writer.groups[p.group]],
            }
    departments = sorted(name for w in writers for name in w.groups.values())
    return {"users": users, "departments": departments}


def differences(state: dict[str, Any], writers: list[Writer]) -> list[str]:
    """Every way DingTalk differs from what the clients were told, in words (empty: exact)."""
    want, have = expected_from_clients(writers), actual_projection(state)
    out = []
    if have["departments"] != want["departments"]:
        out.append(f"departments {have['departments']} != {want['departments']}")
    for userid in sorted(set(want["users"]) | set(have["users"])):
        if want["users"].get(userid) != have["users"].get(userid):
            out.append(f"{userid}: {have['users'].get(userid)} != {want['users'].get(userid)}")
    return out


def duplicates(state: dict[str, Any]) -> list[str]:
    """DingTalk people or departments that exist twice (by mobile, userid or name)."""
    out = []
    for key in ("userid", "mobile"):
        seen = Counter(u[key] for u in state["users"])
        out += [f"{key} {v} x{n}" for v, n in seen.items() if n > 1]
    names = Counter(d["name"] for d in state["departments"])
    return out + [f"department {v} x{n}" for v, n in names.items() if n > 1]


def directory_differences(writers: list[Writer], urls: list[str], token: str) -> list[str]:
    """Every 2xx a client got and the SCIM API does not reflect (empty: all reflected)."""
    reader = Writer(99, urls, token, seed=0, stats=Stats())
    out = []
    for writer in writers:
        for p in writer.people:
            if p.deleted:
                reader.send("GET", f"/Users/{p.user_id}", ok=(404,))
                continue
            _, user = reader.send("GET", f"/Users/{p.user_id}", ok=(200,))
            groups = sorted(g["value"] for g in user.get("groups", []))
            have = (user.get("title"), user.get("active"), groups)
            if have != (p.title, p.active, [p.group]):
                out.append(f"{p.external_id}: {have} != {(p.title, p.active, [p.group])}")
    return out


def run_writers(writers: list[Writer], *, seconds: float, max_writes: int) -> list[BaseException]:
    """Run every client on its own thread for ``seconds``; return what any of them raised."""
    until = time.monotonic() + seconds
    errors: list[BaseException] = []

    def run(writer: Writer) -> None:
        try:
            writer.run(until=until, max_writes=max_writes)
        except BaseException as exc:  # reported by the caller, with the others
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,), daemon=True) for w in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + REQUEST_PATIENCE + 30)
    return errors


# --- the database, read as an operator would --------------------------------------------------


def engine_of(url: str) -> Engine:
    """An engine on a bridge database URL."""
    return create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def counted_calls(engine: Engine) -> int:
    """DingTalk calls the processes added to the SLA minute rows (every outcome)."""
    columns = AvailabilityMinute.__table__.c
    total = sum(
        (func.coalesce(func.sum(columns[name]), 0) for name in ("transient", "rejected")),
        func.coalesce(func.sum(columns.ok), 0)
        + func.coalesce(func.sum(columns.throttled), 0)
        + func.coalesce(func.sum(columns.banned), 0),
    )
    with engine.connect() as conn:
        return int(conn.scalar(select(total)) or 0)


def probes_counted(engine: Engine) -> int:
    """Availability probes the processes added to the SLA minute rows."""
    columns = AvailabilityMinute.__table__.c
    total = (
        func.coalesce(func.sum(columns.probe_ok), 0)
        + func.coalesce(func.sum(columns.probe_failed), 0)
        + func.coalesce(func.sum(columns.probe_refused), 0)
    )
    with engine.connect() as conn:
        return int(conn.scalar(select(total)) or 0)


def job_ticks(engine: Engine, job: str) -> list[tuple[Any, str, str | None]]:
    """(tick, holder, outcome) of every recorded tick of ``job``, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(JobTick.tick, JobTick.holder, JobTick.outcome)
            .where(JobTick.job == job)
            .order_by(JobTick.tick)
        )
        return [(t, h, o) for t, h, o in rows]


def owner_pid(owner: str) -> int:
    """The process id in a worker's owner name (host:pid:suffix)."""
    return int(owner.split(":")[-2])
