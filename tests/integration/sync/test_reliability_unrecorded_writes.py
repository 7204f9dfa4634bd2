"""A write DingTalk applied but the translator never recorded must not leave a person wrong.

The reliability suite (issue 14) ended twice with one person in the wrong DingTalk department.
The translator diffs the desired state against the snapshot it last *recorded*; a move that
DingTalk applied while its answer was lost (a timeout after apply, dingtalk-api.md §10) or
while the worker died before recording it leaves DingTalk ahead of the snapshot. When the IdP
then moves the person back, desired equals the stale snapshot, nothing is sent, and DingTalk
keeps the move nobody wants. Each test builds that exact sequence through the emulator's fault
controls and the outbox's own claims; SQLite and PostgreSQL, the emulator over HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from dingtalk_client_fixtures import FrozenSleep, emulator_client

from scim_bridge.bootstrap import build_worker
from scim_bridge.dingtalk.client import DingTalkClient
from scim_bridge.dingtalk.emulator import RunningEmulator
from scim_bridge.directory.db import Database
from scim_bridge.mapping.model import ROOT_DEPT_ID
from scim_bridge.settings import Settings
from scim_bridge.sync import claims
from scim_bridge.sync.worker import Worker, WorkerConfig

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
#: The emulator holds an answer this long after applying; the client gives up far sooner.
STALL, READ_TIMEOUT = 10.0, 0.5


@pytest.fixture
def client(emulator: RunningEmulator) -> Iterator[DingTalkClient]:
    """A client that gives up on an answer long before the emulator's injected stall ends."""
    made = emulator_client(emulator, read_timeout=READ_TIMEOUT, sleep=FrozenSleep())
    yield made
    made.close()


@pytest.fixture
def worker(settings: Settings, database: Database, client: DingTalkClient) -> Worker:
    """A worker on that client; a failed row waits an hour, so only a new change retries it."""
    return build_worker(
        settings, database, client=client, config=WorkerConfig(threads=2, backoff_base=3600)
    )


def placed_in(emulator: RunningEmulator, userid: str) -> list[int]:
    """The departments DingTalk has the person in."""
    return list(emulator.emulator.users()[userid]["dept_id_list"])


def dept_id(emulator: RunningEmulator, name: str) -> int:
    """The DingTalk id of the department called ``name``."""
    (found,) = [i for i, d in emulator.emulator.departments().items() if d["name"] == name]
    return found


def membership(scim: Any, group_id: str, op: str, user_id: str) -> None:
    """Add the user to, or remove them from, a group."""
    if op == "add":
        body = {"op": "add", "path": "members", "value": [{"value": user_id}]}
    else:
        body = {"op": "remove", "path": f'members[value eq "{user_id}"]'}
    answer = scim.patch(f"/Groups/{group_id}", {"schemas": [PATCH], "Operations": [body]})
    assert answer.status_code in (200, 204), answer.json


def answers_lost(emulator: RunningEmulator) -> None:
    """From now on DingTalk applies every write and its answer never comes (timeout after apply)."""
    emulator.emulator.configure(
        fail_rate=1.0,
        fault_kinds=("timeout_after_apply",),
        faults_on_writes_only=True,
        timeout_stall=STALL,
    )


def rename(scim: Any, group_id: str, value: str) -> None:
    """The IdP renames the group (its department)."""
    body = {"op": "replace", "path": "displayName", "value": value}
    answer = scim.patch(f"/Groups/{group_id}", {"schemas": [PATCH], "Operations": [body]})
    assert answer.status_code in (200, 204), answer.json


def in_north(scim: Any, worker: Worker, emulator: RunningEmulator) -> tuple[str, str]:
    """Provision a person in the North group and project it; return (user id, group id)."""
    user = scim.post(
        "/Users",
        {
            "schemas": [CORE],
            "userName": "pat@example.com",
            "externalId": "pat",
            "displayName": "Pat Doe",
            "phoneNumbers": [{"value": "13800000001", "type": "mobile"}],
        },
    ).json
    north = scim.post("/Groups", {"displayName": "North", "members": [{"value": user["id"]}]})
    worker.run_until_idle()
    assert placed_in(emulator, "pat") == [dept_id(emulator, "North")]
    return user["id"], north.json["id"]


def test_a_move_back_after_a_timeout_after_apply_puts_the_person_back(
    scim_as: Callable[..., Any], worker: Worker, emulator: RunningEmulator
) -> None:
    scim = scim_as("okta-a")
    user_id, north = in_north(scim, worker, emulator)

    # Leaving North: DingTalk applies the move to the root, then its answer never comes.
    membership(scim, north, "remove", user_id)
    answers_lost(emulator)
    worker.run_until_idle()
    assert placed_in(emulator, "pat") == [ROOT_DEPT_ID]  # applied, though the worker failed

    # The IdP puts the person back in North: desired equals the snapshot of before the move.
    emulator.emulator.configure(fail_rate=0.0)
    membership(scim, north, "add", user_id)
    worker.run_until_idle()
    assert placed_in(emulator, "pat") == [dept_id(emulator, "North")]
    assert scim.get(f"/Users/{user_id}").status_code == 200


def test_a_move_back_after_a_worker_died_mid_write_puts_the_person_back(
    scim_as: Callable[..., Any],
    worker: Worker,
    emulator: RunningEmulator,
    database: Database,
    client: DingTalkClient,
) -> None:
    scim = scim_as("okta-a")
    user_id, north = in_north(scim, worker, emulator)

    # Another worker claims the change, sends the move to DingTalk, and is SIGKILLed before it
    # records anything: its lease is left behind, to lapse.
    membership(scim, north, "remove", user_id)
    # The membership change queued the group and the person; it dies with both claimed.
    with database.write() as session:
        claimed = claims.claim_batch(
            session,
            owner="host:4242:dead",
            now=datetime.now(UTC),
            limit=2,
            lease=timedelta(seconds=0),
        )
    assert user_id in {claim.resource_id for claim in claimed}
    client.update_user("pat", {"dept_id_list": [ROOT_DEPT_ID]})

    # The IdP puts the person back before any worker takes the row over.
    membership(scim, north, "add", user_id)
    worker.run_until_idle()
    assert placed_in(emulator, "pat") == [dept_id(emulator, "North")]


def test_a_title_changed_back_after_a_timeout_after_apply_is_sent_again(
    scim_as: Callable[..., Any], worker: Worker, emulator: RunningEmulator
) -> None:
    scim = scim_as("okta-a")
    user_id, _north = in_north(scim, worker, emulator)

    def title(value: str) -> None:
        body = {"op": "replace", "path": "title", "value": value}
        answer = scim.patch(f"/Users/{user_id}", {"schemas": [PATCH], "Operations": [body]})
        assert answer.status_code == 200, answer.json

    title("Engineer 1")
    worker.run_until_idle()
    title("Engineer 2")
    answers_lost(emulator)
    worker.run_until_idle()
    assert emulator.emulator.users()["pat"]["title"] == "Engineer 2"

    emulator.emulator.configure(fail_rate=0.0)
    title("Engineer 1")
    worker.run_until_idle()
    assert emulator.emulator.users()["pat"]["title"] == "Engineer 1"


def test_a_rename_back_after_a_timeout_after_apply_renames_the_department_back(
    scim_as: Callable[..., Any], worker: Worker, emulator: RunningEmulator
) -> None:
    scim = scim_as("okta-a")
    _user_id, north = in_north(scim, worker, emulator)
    dept = dept_id(emulator, "North")

    rename(scim, north, "Northern")
    answers_lost(emulator)
    worker.run_until_idle()
    assert emulator.emulator.departments()[dept]["name"] == "Northern"

    emulator.emulator.configure(fail_rate=0.0)
    rename(scim, north, "North")
    worker.run_until_idle()
    assert emulator.emulator.departments()[dept]["name"] == "North"
    assert placed_in(emulator, "pat") == [dept]


def test_a_rename_back_after_a_worker_died_mid_rename_renames_the_department_back(
    scim_as: Callable[..., Any],
    worker: Worker,
    emulator: RunningEmulator,
    database: Database,
    client: DingTalkClient,
) -> None:
    scim = scim_as("okta-a")
    _user_id, north = in_north(scim, worker, emulator)
    dept = dept_id(emulator, "North")

    # A worker claims the rename, sends it, and dies before recording it.
    rename(scim, north, "Northern")
    with database.write() as session:
        taken = claims.claim_batch(
            session, owner="host:4242:dead", now=datetime.now(UTC), limit=10, lease=timedelta(0)
        )
    assert north in {c.resource_id for c in taken}
    client.update_department(dept, {"name": "Northern"})

    rename(scim, north, "North")
    worker.run_until_idle()
    assert emulator.emulator.departments()[dept]["name"] == "North"


def test_only_a_row_whose_lease_lapsed_under_its_owner_is_claimed_orphaned(
    scim_as: Callable[..., Any], database: Database
) -> None:
    scim = scim_as("okta-a")
    scim.post("/Groups", {"displayName": "North"})
    now = datetime.now(UTC)

    def claim(owner: str) -> claims.Claim:
        with database.write() as session:
            (taken,) = claims.claim_batch(
                session, owner=owner, now=datetime.now(UTC), limit=1, lease=timedelta(0)
            )
        return taken

    first = claim("host:1:a")
    assert not first.orphaned  # never claimed before
    taken_over = claim("host:2:b")  # a's lease lapsed while a still held the row
    assert taken_over.orphaned
    with database.write() as session:  # b settles it: retried later, owner cleared
        claims.postpone(session, taken_over, owner="host:2:b", until=now, count_attempt=True)
    assert not claim("host:3:c").orphaned
