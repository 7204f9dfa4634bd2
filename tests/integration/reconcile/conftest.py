"""Fixtures of the reconcile tests: the emulator over HTTP, a worker, a bridge-side client,
an "admin console" client that edits DingTalk behind the bridge's back, and a small directory."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from dingtalk_client_fixtures import emulator_client

from scim_bridge.bootstrap import build_worker
from scim_bridge.dingtalk.client import DingTalkClient
from scim_bridge.dingtalk.emulator import EmulatorConfig, RunningEmulator, start_emulator
from scim_bridge.directory.db import Database
from scim_bridge.mapping.rules import load_rules, rules_path
from scim_bridge.settings import Settings
from scim_bridge.sync.reconcile import Reconciler
from scim_bridge.sync.worker import Worker, WorkerConfig

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
_mobiles = itertools.count(13900000100)


def _client(emulator: RunningEmulator) -> DingTalkClient:
    return emulator_client(emulator)


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    """The DingTalk emulator on 127.0.0.1, unthrottled."""
    running = start_emulator(EmulatorConfig(qps=0))
    yield running
    running.stop()


@pytest.fixture
def worker(settings: Settings, database: Database, emulator: RunningEmulator) -> Iterator[Worker]:
    """A worker whose client talks to the emulator; drive it with run_until_idle()."""
    client = _client(emulator)
    yield build_worker(settings, database, client=client, config=WorkerConfig(threads=2))
    client.close()


@pytest.fixture
def reader(emulator: RunningEmulator) -> Iterator[DingTalkClient]:
    """The client reconcile reads DingTalk with."""
    client = _client(emulator)
    yield client
    client.close()


@pytest.fixture
def console(emulator: RunningEmulator) -> Iterator[DingTalkClient]:
    """Someone editing DingTalk directly (its admin console), not through the bridge."""
    client = _client(emulator)
    yield client
    client.close()


@pytest.fixture
def reconciler(settings: Settings, database: Database, reader: DingTalkClient) -> Reconciler:
    """A reconcile over the test database and the emulator, with the default mapping."""
    return Reconciler(database, reader, settings, load_rules(rules_path(settings)))


def person(name: str, **extra: Any) -> dict[str, Any]:
    """A SCIM user with a mobile, an e-mail and a display name."""
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": f"{name}@example.com",
        "externalId": name,
        "displayName": name.title(),
        "title": "Staff",
        "phoneNumbers": [{"value": f"+86 {next(_mobiles)}", "type": "mobile"}],
        "emails": [{"value": f"{name}@example.com", "type": "work", "primary": True}],
        **extra,
    }


@dataclass
class Org:
    """The directory the tests sync: two departments, four people, one manager."""

    ids: dict[str, str]  # name -> SCIM id
    groups: dict[str, str]  # group name -> SCIM id

    def dept_ids(self, emulator: RunningEmulator) -> dict[str, int]:
        """Return {department name: dept_id} as DingTalk holds them now."""
        return {d["name"]: dept_id for dept_id, d in emulator.emulator.departments().items()}


@pytest.fixture
def org(scim: Any, worker: Worker) -> Org:
    """Sales (alice, bob) and Engineering (carol, dave; dave reports to carol), synced."""
    ids: dict[str, str] = {}
    for name in ("alice", "bob", "carol"):
        ids[name] = scim.post("/Users", person(name)).json["id"]
    dave = person("dave", **{ENTERPRISE: {"manager": {"value": ids["carol"]}}})
    dave["schemas"] = ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE]
    ids["dave"] = scim.post("/Users", dave).json["id"]
    groups = {}
    for group, members in (("Sales", ("alice", "bob")), ("Engineering", ("carol", "dave"))):
        body = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": group,
            "members": [{"value": ids[m]} for m in members],
        }
        groups[group] = scim.post("/Groups", body).json["id"]
    worker.run_until_idle()
    return Org(ids, groups)
