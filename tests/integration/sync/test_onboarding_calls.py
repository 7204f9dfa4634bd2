"""An onboarding spends one DingTalk call per new person (issue 14), and adoption still holds.

The lookup by mobile before each create was a second call, and a second round trip, on the path
of every new person. A new person is now created at once; DingTalk refuses a create whose mobile
it already has (60104, dingtalk-api.md §3.1), and only then is the person looked up and adopted
as before. SQLite and PostgreSQL, the emulator over real HTTP, its call record as the evidence.
"""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import select

from scim_bridge.dingtalk.emulator import RunningEmulator
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import DeadLetter, Link
from scim_bridge.sync.worker import Worker

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
CREATE, BY_MOBILE = "/topapi/v2/user/create", "/topapi/v2/user/getbymobile"
_mobiles = itertools.count(13900000000)


def person(user_name: str, display: str, mobile: str | None = None) -> dict[str, Any]:
    """A SCIM user with a mobile (its own unless given)."""
    return {
        "schemas": [CORE],
        "userName": user_name,
        "externalId": user_name.partition("@")[0],
        "displayName": display,
        "phoneNumbers": [{"value": mobile or str(next(_mobiles)), "type": "mobile"}],
    }


def apis(emulator: RunningEmulator) -> list[str]:
    """The DingTalk APIs called so far, in order (the token fetch left out)."""
    return [c["api"] for c in emulator.emulator.calls() if c["api"] and "oauth2" not in c["api"]]


def link_of(database: Database, user_id: str) -> Link | None:
    with database.read() as session:
        return session.scalar(select(Link).where(Link.kind == "user", Link.key == user_id))


def test_new_people_are_created_with_one_call_each_and_no_lookup_by_mobile(
    scim: Any, worker: Worker, emulator: RunningEmulator, database: Database
) -> None:
    bodies = [person(f"new{i}@example.com", f"New {i}") for i in (1, 2)]
    ids = [scim.post("/Users", body).json["id"] for body in bodies]
    worker.run_until_idle()
    called = apis(emulator)
    assert called.count(CREATE) == 2
    assert BY_MOBILE not in called
    assert {"new1", "new2"} <= set(emulator.emulator.users())
    for user_id in ids:
        link = link_of(database, user_id)
        assert link is not None and link.state == "synced"


def test_a_person_dingtalk_has_by_mobile_is_adopted_after_the_create_is_refused(
    scim: Any, worker: Worker, emulator: RunningEmulator, database: Database
) -> None:
    emulator.emulator.admin.add_user("legacy-7", name="Old Account", mobile="13812345678")
    user_id = scim.post("/Users", person("ana@example.com", "Ana Li", "13812345678")).json["id"]
    worker.run_until_idle()
    called = apis(emulator)
    # Refused (60104, nothing created), looked up, adopted: one person, ours, not a duplicate.
    assert called[called.index(CREATE) :][:2] == [CREATE, BY_MOBILE]
    refused = [c for c in emulator.emulator.calls() if c["api"] == CREATE]
    assert [c["outcome"].get("errcode") for c in refused] == [60104]
    users = emulator.emulator.users()
    assert set(users) == {"legacy-7"} and users["legacy-7"]["name"] == "Ana Li"
    link = link_of(database, user_id)
    assert link is not None and (link.dingtalk_id, link.state) == ("legacy-7", "synced")


def test_a_mobile_another_scim_user_holds_is_still_refused_after_the_create(
    scim: Any, worker: Worker, emulator: RunningEmulator, database: Database
) -> None:
    first = scim.post("/Users", person("first@example.com", "First Holder", "13811112222")).json
    worker.run_until_idle()
    second = scim.post("/Users", person("second@example.com", "Second", "13811112222")).json
    worker.run_until_idle()
    # The lookup after the refused create finds a person a live link holds: never taken over.
    assert emulator.emulator.users()["first"]["name"] == "First Holder"
    with database.read() as session:
        letter = session.scalar(select(DeadLetter).where(DeadLetter.resource_id == second["id"]))
    assert letter is not None and letter.code == "LinkConflict"
    assert first["id"] in letter.reason
    link = link_of(database, second["id"])
    assert link is None or link.dingtalk_id != "first"
