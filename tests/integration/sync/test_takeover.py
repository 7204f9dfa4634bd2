"""No SCIM record can take over another person's DingTalk account (issue 9, finding 1).

Every path by which a second SCIM user used to overwrite, then delete, the DingTalk person of a
first one: lossy userid sanitising across two IdPs and inside one, a userid derived from a SCIM
id against an externalId equal to it, adoption by mobile, DingTalk's 60102 on a held userid, a
race between two translators, and removal. SQLite and PostgreSQL, the emulator over HTTP.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select, text

from scim_bridge.bootstrap import build_worker
from scim_bridge.dingtalk.client import CreatedUser, DingTalkClient
from scim_bridge.dingtalk.emulator import RunningEmulator
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import DeadLetter, Link
from scim_bridge.settings import Settings
from scim_bridge.sync.worker import Worker, WorkerConfig

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
DINGTALK = "urn:ietf:params:scim:schemas:extension:dingtalk:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIVE_INDEX = "uq_links_live_user_dingtalk_id"
_mobiles = itertools.count(13700000000)


def person(user_name: str, display: str, external_id: str | None = None) -> dict[str, Any]:
    """A SCIM user with a mobile of its own."""
    body: dict[str, Any] = {
        "schemas": [CORE],
        "userName": user_name,
        "displayName": display,
        "phoneNumbers": [{"value": str(next(_mobiles)), "type": "mobile"}],
    }
    if external_id is not None:
        body["externalId"] = external_id
    return body


def people(emulator: RunningEmulator) -> dict[str, dict[str, Any]]:
    return dict(emulator.emulator.users())


def sync_state(scim: Any, user_id: str) -> dict[str, Any]:
    return dict(scim.get(f"/Users/{user_id}").json[DINGTALK]["sync"])


def victim_in_sales(scim: Any, external_id: str | None) -> dict[str, Any]:
    """Provision the victim, a member of the Sales group (a DingTalk department)."""
    victim = scim.post("/Users", person("victim@a.example", "Victim Person", external_id)).json
    scim.post("/Groups", {"displayName": "Sales", "members": [{"value": victim["id"]}]})
    return dict(victim)


def assert_untouched(emulator: RunningEmulator, userid: str, victim: dict[str, Any]) -> None:
    """The victim's DingTalk person still exists with the victim's own name, mobile, department."""
    found = people(emulator).get(userid)
    assert found is not None, f"{userid} was deleted"
    depts = {d["name"]: i for i, d in emulator.emulator.departments().items()}
    assert found["name"] == "Victim Person"
    assert found["mobile"] == victim["phoneNumbers"][0]["value"]
    assert found["dept_id_list"] == [depts["Sales"]]


def user_updates_of(emulator: RunningEmulator, userid: str) -> list[dict[str, Any]]:
    """The user/update calls the emulator answered for one userid."""
    return [
        c
        for c in emulator.emulator.calls()
        if c["path"] == "/topapi/v2/user/update" and c["userid"] == userid
    ]


# --- lossy sanitising: "jdoe 1" and "jdoe_1" --------------------------------------------------


@pytest.mark.parametrize("second_idp", ["okta-a", "entra-b"], ids=["one-idp", "two-idps"])
def test_jdoe_space_1_never_takes_over_jdoe_1(
    scim_as: Callable[..., Any], worker: Worker, emulator: RunningEmulator, second_idp: str
) -> None:
    idp_a = scim_as("okta-a")
    idp_b = idp_a if second_idp == "okta-a" else scim_as(second_idp)
    victim = victim_in_sales(idp_a, "jdoe_1")
    worker.run_until_idle()
    assert set(people(emulator)) == {"jdoe_1"}

    mallory = idp_b.post("/Users", person("mallory@b.example", "Mallory", "jdoe 1")).json
    worker.run_until_idle()
    everyone = people(emulator)
    assert_untouched(emulator, "jdoe_1", victim)
    (own,) = set(everyone) - {"jdoe_1"}
    assert own.startswith("jdoe_1_") and everyone[own]["name"] == "Mallory"
    assert sync_state(idp_a, victim["id"])["dingtalkId"] == "jdoe_1"
    state = sync_state(idp_b, mallory["id"])
    assert state == {**state, "state": "synced", "dingtalkId": own}

    assert idp_b.delete(f"/Users/{mallory['id']}").status_code == 204
    worker.run_until_idle()
    assert set(people(emulator)) == {"jdoe_1"}
    assert_untouched(emulator, "jdoe_1", victim)
    assert sync_state(idp_a, victim["id"])["state"] == "synced"


def test_the_same_externalid_twice_gives_the_second_user_a_userid_of_its_own(
    scim_as: Callable[..., Any], worker: Worker, emulator: RunningEmulator
) -> None:
    idp = scim_as("okta-a")
    victim = victim_in_sales(idp, "jdoe")
    worker.run_until_idle()
    # RFC 7643 §3.1: externalId is not unique, so a repeat is accepted ...
    twin = idp.post("/Users", person("twin@a.example", "Twin", "jdoe")).json
    worker.run_until_idle()
    # ... and never shares the first one's DingTalk person.
    assert_untouched(emulator, "jdoe", victim)
    own = sync_state(idp, twin["id"])["dingtalkId"]
    assert own != "jdoe" and own.startswith("jdoe_")
    assert people(emulator)[own]["name"] == "Twin"
    assert user_updates_of(emulator, "jdoe") == []

    idp.delete(f"/Users/{twin['id']}")
    worker.run_until_idle()
    assert set(people(emulator)) == {"jdoe"}
    assert_untouched(emulator, "jdoe", victim)


# --- a userid derived from a SCIM id against an externalId equal to it ------------------------


def test_an_externalid_equal_to_another_users_scim_id_gets_a_userid_of_its_own(
    scim_as: Callable[..., Any], worker: Worker, emulator: RunningEmulator
) -> None:
    idp_a, idp_b = scim_as("okta-a"), scim_as("entra-b")
    victim = victim_in_sales(idp_a, None)  # no externalId: the userid is the SCIM id
    worker.run_until_idle()
    assert set(people(emulator)) == {victim["id"]}

    mallory = idp_b.post("/Users", person("mallory@b.example", "Mallory", victim["id"])).json
    worker.run_until_idle()
    assert_untouched(emulator, victim["id"], victim)
    own = sync_state(idp_b, mallory["id"])["dingtalkId"]
    assert own != victim["id"] and people(emulator)[own]["name"] == "Mallory"

    idp_b.delete(f"/Users/{mallory['id']}")
    worker.run_until_idle()
    assert set(people(emulator)) == {victim["id"]}
    assert_untouched(emulator, victim["id"], victim)


# --- DingTalk's 60102 on a userid another link holds ------------------------------------------


def test_a_reactivated_user_does_not_adopt_its_old_userid_now_held_by_another(
    scim_as: Callable[..., Any], worker: Worker, emulator: RunningEmulator
) -> None:
    idp_a, idp_b = scim_as("okta-a"), scim_as("entra-b")
    leaver = idp_b.post("/Users", person("leaver@b.example", "Leaver", "jdoe_1")).json
    worker.run_until_idle()
    idp_b.patch(
        f"/Users/{leaver['id']}",
        {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": False}}]},
    )
    worker.run_until_idle()
    assert people(emulator) == {}  # the leaver is deleted; their link keeps "jdoe_1"

    victim = victim_in_sales(idp_a, "jdoe_1")
    worker.run_until_idle()
    assert_untouched(emulator, "jdoe_1", victim)

    # Coming back, the leaver's old userid is the victim's now: DingTalk would answer 60102.
    idp_b.patch(
        f"/Users/{leaver['id']}",
        {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": True}}]},
    )
    worker.run_until_idle()
    assert_untouched(emulator, "jdoe_1", victim)
    own = sync_state(idp_b, leaver["id"])["dingtalkId"]
    assert own != "jdoe_1" and people(emulator)[own]["name"] == "Leaver"
    assert sync_state(idp_a, victim["id"])["dingtalkId"] == "jdoe_1"

    idp_b.delete(f"/Users/{leaver['id']}")
    worker.run_until_idle()
    assert set(people(emulator)) == {"jdoe_1"}
    assert_untouched(emulator, "jdoe_1", victim)


def test_60102_adopts_a_person_no_link_holds(
    scim_as: Callable[..., Any], worker: Worker, emulator: RunningEmulator
) -> None:
    # A create that timed out after DingTalk applied it: the retry meets 60102 on our own userid.
    emulator.emulator.load(
        {"users": [{"userid": "jdoe", "name": "Half made", "mobile": "13612345678"}]}
    )
    idp = scim_as("okta-a")
    jdoe = person("jdoe@a.example", "John Doe", "jdoe")
    jdoe["phoneNumbers"] = [{"value": "13612345678", "type": "mobile"}]
    created = idp.post("/Users", jdoe).json
    worker.run_until_idle()
    assert set(people(emulator)) == {"jdoe"}
    assert people(emulator)["jdoe"]["name"] == "John Doe"
    assert sync_state(idp, created["id"])["dingtalkId"] == "jdoe"


# --- adoption by mobile ------------------------------------------------------------------------


def test_adoption_by_mobile_of_a_linked_person_is_dead_lettered_naming_both(
    scim_as: Callable[..., Any], worker: Worker, emulator: RunningEmulator, database: Database
) -> None:
    idp_a, idp_b = scim_as("okta-a"), scim_as("entra-b")
    victim = victim_in_sales(idp_a, "victim")
    worker.run_until_idle()

    body = person("mallory@b.example", "Mallory", "mallory")
    body["phoneNumbers"] = victim["phoneNumbers"]  # the victim's mobile
    mallory = idp_b.post("/Users", body).json
    worker.run_until_idle()
    assert set(people(emulator)) == {"victim"}
    assert_untouched(emulator, "victim", victim)
    with database.read() as session:
        letter = session.scalar(select(DeadLetter).where(DeadLetter.resource_id == mallory["id"]))
    assert letter is not None and letter.code == "LinkConflict" and letter.attempts == 1
    for words in (mallory["id"], "mallory@b.example", "victim", victim["id"], "victim@a.example"):
        assert words in letter.reason
    assert "mobile" in letter.reason
    assert sync_state(idp_b, mallory["id"])["state"] == "failed"

    idp_b.delete(f"/Users/{mallory['id']}")
    worker.run_until_idle()
    assert_untouched(emulator, "victim", victim)
    assert sync_state(idp_a, victim["id"])["state"] == "synced"


def test_adoption_by_mobile_never_takes_a_person_whose_link_has_failed(
    scim_as: Callable[..., Any], worker: Worker, emulator: RunningEmulator, database: Database
) -> None:
    idp_a, idp_b = scim_as("okta-a"), scim_as("entra-b")
    victim = victim_in_sales(idp_a, "victim")
    bystander = idp_a.post("/Users", person("by@a.example", "Bystander", "bystander")).json
    worker.run_until_idle()
    # The victim's next change fails (the bystander's mobile): their link is live but "failed".
    idp_a.patch(
        f"/Users/{victim['id']}",
        {
            "schemas": [PATCH],
            "Operations": [
                {"op": "replace", "path": "title", "value": "Lead"},
                {"op": "replace", "path": "phoneNumbers", "value": bystander["phoneNumbers"]},
            ],
        },
    )
    worker.run_until_idle()
    with database.read() as session:
        link = session.scalar(select(Link).where(Link.key == victim["id"]))
    assert link is not None and link.state == "failed" and link.dingtalk_id == "victim"

    body = person("mallory@b.example", "Mallory", "mallory")
    body["phoneNumbers"] = victim["phoneNumbers"]  # the mobile DingTalk still has for the victim
    before = len(user_updates_of(emulator, "victim"))  # the victim's own update that failed
    mallory = idp_b.post("/Users", body).json
    worker.run_until_idle()
    assert_untouched(emulator, "victim", victim)
    assert len(user_updates_of(emulator, "victim")) == before
    with database.read() as session:
        letter = session.scalar(select(DeadLetter).where(DeadLetter.resource_id == mallory["id"]))
    assert letter is not None and letter.code == "LinkConflict"
    assert victim["id"] in letter.reason and "victim@a.example" in letter.reason


# --- two translators racing for one userid -----------------------------------------------------


class InterleavingClient(DingTalkClient):
    """A client that runs ``before_create`` once, just before its first user/create call."""

    before_create: Callable[[], None] | None = None

    def create_user(self, fields: dict[str, Any]) -> CreatedUser:
        hook, self.before_create = self.before_create, None
        if hook is not None:
            hook()
        return super().create_user(fields)


def test_two_translators_racing_for_one_userid_each_keep_their_own_person(
    scim_as: Callable[..., Any],
    settings: Settings,
    database: Database,
    emulator: RunningEmulator,
) -> None:
    idp = scim_as("okta-a")
    first = idp.post("/Users", person("first@a.example", "First", "jdoe")).json
    second = idp.post("/Users", person("second@a.example", "Second", "jdoe")).json
    cfg = emulator.emulator.config
    clients = [
        cls(
            app_key=cfg.app_key,
            app_secret=cfg.app_secret,
            oapi_url=emulator.url,
            api_url=emulator.url,
            qps=1000,
        )
        for cls in (DingTalkClient, InterleavingClient)
    ]
    try:
        one, two = (
            build_worker(settings, database, client=c, config=WorkerConfig(threads=1)).translator
            for c in clients
        )
        assert isinstance(two.client, InterleavingClient)
        # The second translator is about to create "jdoe" when the first one translates too.
        two.client.before_create = lambda: one.sync("User", first["id"])
        two.sync("User", second["id"])
    finally:
        for c in clients:
            c.close()
    everyone = people(emulator)
    assert len(everyone) == 2
    held = {sync_state(idp, u["id"])["dingtalkId"]: u for u in (first, second)}
    assert set(held) == set(everyone)
    for userid, user in held.items():
        assert everyone[userid]["name"] == user["displayName"]


# --- removal -----------------------------------------------------------------------------------


def test_removal_never_deletes_a_person_another_live_link_holds(
    scim_as: Callable[..., Any], worker: Worker, emulator: RunningEmulator, database: Database
) -> None:
    idp_a, idp_b = scim_as("okta-a"), scim_as("entra-b")
    victim = victim_in_sales(idp_a, "jdoe_1")
    other = idp_b.post("/Users", person("other@b.example", "Other", "other")).json
    worker.run_until_idle()
    # A store restored from before the constraint (migration 0005) may still hold two live
    # links to one person: the removal of one must not delete the other's account.
    with database.write() as session:
        session.execute(text(f"DROP INDEX {LIVE_INDEX}"))
    try:
        with database.write() as session:
            row = session.scalar(select(Link).where(Link.key == other["id"]))
            assert row is not None
            row.dingtalk_id = "jdoe_1"
        idp_b.delete(f"/Users/{other['id']}")
        worker.run_until_idle()
        with database.read() as session:
            link = session.scalar(select(Link).where(Link.key == other["id"]))
    finally:
        # The PostgreSQL database outlives this test: put the constraint back.
        with database.write() as session:
            session.execute(text("DELETE FROM links WHERE key = :k"), {"k": other["id"]})
            session.execute(
                text(
                    f"CREATE UNIQUE INDEX {LIVE_INDEX} ON links (dingtalk_id) WHERE kind = 'user'"
                    " AND state <> 'removed' AND dingtalk_id IS NOT NULL"
                )
            )
    assert_untouched(emulator, "jdoe_1", victim)
    assert link is not None and link.state == "removed" and link.dingtalk_id is None
    assert link.last_error is not None and victim["id"] in link.last_error
    assert sync_state(idp_a, victim["id"])["state"] == "synced"
