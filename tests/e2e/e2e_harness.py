"""Real processes, started as an operator would: the emulator, `scim-bridge serve`, `worker`.

An IdP-like client drives the SCIM API over HTTP; the expected DingTalk projection is computed
from what the SCIM API says at the end, independently of the bridge's own code, and compared
with the emulator's state dump.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, func, select

from scim_bridge.directory.models import DeadLetter, OutboxEntry

CLI = str(Path(sys.executable).with_name("scim-bridge"))
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
APP_KEY, APP_SECRET = "e2e-app-key", "e2e-app-secret"


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Any, *, timeout: float, what: str, interval: float = 0.2) -> None:
    """Poll ``predicate`` until true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            if predicate():
                return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


@dataclass
class Cluster:
    """The processes of one run and how to reach them."""

    workdir: Path
    database_url: str
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    emulator_url: str = ""
    api_urls: list[str] = field(default_factory=list)
    token: str = ""

    def env(self) -> dict[str, str]:
        """The environment every bridge process gets."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("SCIM_BRIDGE_")}
        return {
            **base,
            "SCIM_BRIDGE_DATABASE_URL": self.database_url,
            "SCIM_BRIDGE_DINGTALK_BASE_URL": self.emulator_url,
            "SCIM_BRIDGE_DINGTALK_APP_KEY": APP_KEY,
            "SCIM_BRIDGE_DINGTALK_APP_SECRET": APP_SECRET,
            "SCIM_BRIDGE_LOG_LEVEL": "INFO",
            # The wake-up socket and lock of a PostgreSQL run, out of the working directory.
            "SCIM_BRIDGE_RUNTIME_DIR": str(self.workdir / "run"),
            # The nightly reconcile (02:00 UTC) would otherwise join a run that crosses 02:00
            # and read DingTalk beside the scenario; a test that wants it sets it.
            "SCIM_BRIDGE_RECONCILE_CRON": "",
            **self.extra_env,
        }

    def cli(self, *args: str) -> str:
        """Run a scim-bridge command to completion and return its standard output."""
        done = subprocess.run(
            [CLI, *args], env=self.env(), capture_output=True, check=True, timeout=120
        )
        return done.stdout.decode()

    def start(self, name: str, *args: str) -> None:
        """Start a long-running scim-bridge command, logging to a file."""
        # The child keeps its own descriptor; ours closes when the block ends.
        with (self.workdir / f"{name}.log").open("ab") as log:
            self.procs[name] = subprocess.Popen(
                [CLI, *args],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send a signal to a process group and reap it."""
        proc = self.procs.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(timeout=30)

    def start_emulator(self, *args: str) -> None:
        """Start the DingTalk emulator process and wait until it answers."""
        port = free_port()
        self.emulator_url = f"http://127.0.0.1:{port}"
        self.start(
            "emulator",
            "emulator",
            "--port",
            str(port),
            "--app-key",
            APP_KEY,
            "--app-secret",
            APP_SECRET,
            *args,
        )
        wait_until(
            lambda: requests.get(f"{self.emulator_url}/__emulator__/state", timeout=2).ok,
            timeout=30,
            what="the emulator",
        )

    def start_api(self, name: str, *args: str) -> str:
        """Start `scim-bridge serve` and wait until it is ready; return its SCIM base URL."""
        port = free_port()
        self.start(name, "serve", "--port", str(port), *args)
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: requests.get(f"{url}/healthz", timeout=2).ok, timeout=60, what=name)
        self.api_urls.append(f"{url}/scim/v2")
        return f"{url}/scim/v2"

    def prepare(self) -> None:
        """Migrate the database and create the IdP's token."""
        self.cli("db", "upgrade")
        self.token = self.cli("token", "create", "e2e-idp").strip().splitlines()[-1]

    def emulator_state(self) -> dict[str, Any]:
        """The emulator's whole org, over HTTP."""
        answer = requests.get(f"{self.emulator_url}/__emulator__/state", timeout=10)
        answer.raise_for_status()
        return dict(answer.json())

    def emulator_calls(self) -> list[dict[str, Any]]:
        """The emulator's call log, over HTTP."""
        answer = requests.get(f"{self.emulator_url}/__emulator__/calls", timeout=10)
        answer.raise_for_status()
        body = answer.json()
        return list(body["calls"] if isinstance(body, dict) else body)

    def outbox_pending(self) -> int:
        """How many changes wait to be projected."""
        engine = create_engine(self.database_url.replace("postgresql://", "postgresql+psycopg://"))
        try:
            with engine.connect() as conn:
                return int(conn.scalar(select(func.count()).select_from(OutboxEntry)) or 0)
        finally:
            engine.dispose()

    def dead_letters(self) -> list[tuple[str, str, str]]:
        """The dead-letter list as (type, id, reason)."""
        engine = create_engine(self.database_url.replace("postgresql://", "postgresql+psycopg://"))
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    select(DeadLetter.resource_type, DeadLetter.resource_id, DeadLetter.reason)
                )
                return [tuple(r) for r in rows]  # type: ignore[misc]
        finally:
            engine.dispose()

    def wait_converged(self, *, timeout: float) -> None:
        """Wait until nothing is pending (twice in a row, a second apart)."""

        def quiet() -> bool:
            if self.outbox_pending():
                return False
            time.sleep(1.0)
            return self.outbox_pending() == 0

        wait_until(quiet, timeout=timeout, what="the outbox to drain", interval=0.5)

    def stop(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL)."""
        for name in list(self.procs):
            proc = self.procs[name]
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill(name)
            self.procs.pop(name, None)


@contextlib.contextmanager
def cluster(workdir: Path, database_url: str, **extra_env: str) -> Iterator[Cluster]:
    """A Cluster that is always torn down."""
    c = Cluster(workdir=workdir, database_url=database_url, extra_env=extra_env)
    try:
        yield c
    finally:
        c.stop()


class IdP:
    """An Okta/Entra-like SCIM client over HTTP, spreading requests over the API processes."""

    def __init__(self, base_urls: list[str], token: str) -> None:
        self.base_urls = base_urls
        self.session = requests.Session()
        self.session.headers.update(
            {
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/scim+json",
                # The okta profile answers group PATCH with 204, as Okta expects.
                "User-Agent": "Okta SCIM Client 1.0.0",
            }
        )
        self._turn = 0

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        """Send one request to the next API process and check the status."""
        base = self.base_urls[self._turn % len(self.base_urls)]
        self._turn += 1
        answer = self.session.request(method, f"{base}{path}", json=body, timeout=60)
        assert answer.status_code == expect, (method, path, answer.status_code, answer.text)
        return answer.json() if answer.content else None

    def patch(self, path: str, *ops: dict[str, Any], expect: int = 200) -> Any:
        """PATCH with the given operations."""
        return self.call("PATCH", path, {"schemas": [PATCH], "Operations": list(ops)}, expect)

    def all(self, endpoint: str) -> list[dict[str, Any]]:
        """Page through every resource of an endpoint."""
        out: list[dict[str, Any]] = []
        start = 1
        while True:
            page = self.call("GET", f"/{endpoint}?startIndex={start}&count=200")
            out.extend(page["Resources"])
            start += page["itemsPerPage"]
            if not page["itemsPerPage"] or start > page["totalResults"]:
                return out


def run_scenario(idp: IdP, *, users: int = 500, groups: int = 20, seed: int = 7) -> None:
    """Create, update, move, deactivate, delete users; rename and delete groups."""
    rng = random.Random(seed)
    group_ids = [
        idp.call("POST", "/Groups", {"displayName": f"Team {g:02d}", "members": []}, 201)["id"]
        for g in range(groups)
    ]
    user_ids = []
    for i in range(users):
        body = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": f"person{i:04d}@example.com",
            "externalId": f"p{i:04d}",
            "displayName": f"Person {i:04d}",
            "title": "Engineer",
            "active": True,
            "emails": [{"value": f"person{i:04d}@example.com", "type": "work", "primary": True}],
            "phoneNumbers": [
                {"value": f"+86 139 {i // 10000:04d} {i % 10000:04d}", "type": "mobile"}
            ],
        }
        user_ids.append(idp.call("POST", "/Users", body, 201)["id"])
    members: dict[str, set[str]] = {gid: set() for gid in group_ids}
    for g, gid in enumerate(group_ids):
        chunk = user_ids[g::groups]
        members[gid].update(chunk)
        idp.patch(
            f"/Groups/{gid}",
            {"op": "add", "path": "members", "value": [{"value": u} for u in chunk]},
            expect=204,
        )
    for uid in rng.sample(user_ids, 200):
        idp.patch(f"/Users/{uid}", {"op": "replace", "path": "title", "value": "Senior Engineer"})
    for uid in rng.sample(user_ids, 50):
        source = next(g for g, m in members.items() if uid in m)
        target = rng.choice([g for g in group_ids if g != source])
        idp.patch(
            f"/Groups/{source}", {"op": "remove", "path": f'members[value eq "{uid}"]'}, expect=204
        )
        idp.patch(
            f"/Groups/{target}",
            {"op": "add", "path": "members", "value": [{"value": uid}]},
            expect=204,
        )
        members[source].discard(uid)
        members[target].add(uid)
    remaining = list(user_ids)
    rng.shuffle(remaining)
    for uid in remaining[:50]:
        idp.patch(f"/Users/{uid}", {"op": "replace", "value": {"active": False}})
    for uid in remaining[50:70]:
        idp.call("DELETE", f"/Users/{uid}", expect=204)
    for gid in group_ids[:3]:
        idp.patch(
            f"/Groups/{gid}",
            {"op": "replace", "path": "displayName", "value": f"Renamed {gid[:8]}"},
            expect=204,
        )
    for gid in group_ids[3:5]:
        idp.call("DELETE", f"/Groups/{gid}", expect=204)


def expected_projection(idp: IdP, org_name: str) -> dict[str, Any]:
    """What DingTalk must hold, computed from the SCIM API alone (the default mapping)."""
    groups = {g["id"]: g["displayName"] for g in idp.all("Groups")}
    users = {}
    for u in idp.all("Users"):
        if u.get("active") is False:
            continue
        mobile = u["phoneNumbers"][0]["value"].replace("+86", "").replace(" ", "")
        depts = sorted(groups[g["value"]] for g in u.get("groups", [])) or [org_name]
        users[u["externalId"]] = {
            "name": u["displayName"],
            "mobile": mobile,
            "email": u["emails"][0]["value"],
            "title": u["title"],
            "departments": depts,
        }
    return {"users": users, "departments": sorted(groups.values())}


def actual_projection(state: dict[str, Any]) -> dict[str, Any]:
    """What the emulator holds, in the same shape."""
    names = {d["dept_id"]: d["name"] for d in state["departments"]}
    users = {
        u["userid"]: {
            "name": u["name"],
            "mobile": u["mobile"],
            "email": u.get("email"),
            "title": u.get("title"),
            "departments": sorted(names[d] for d in u["dept_id_list"]),
        }
        for u in state["users"]
    }
    departments = sorted(d["name"] for d in state["departments"] if d["dept_id"] != 1)
    return {"users": users, "departments": departments}
