"""The translator end to end in one process: SCIM writes -> outbox -> worker -> emulator (HTTP)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scim_bridge.bootstrap import build_alerting
from scim_bridge.dingtalk.emulator import RunningEmulator
from scim_bridge.directory.db import Database
from scim_bridge.settings import Settings
from scim_bridge.sync.worker import Worker

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
_mobiles = itertools.count(13900000000)


def user(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": f"{name}@example.com",
        "externalId": name,
        "displayName": name.title(),
        "phoneNumbers": [{"value": f"+86 {next(_mobiles)}", "type": "mobile"}],
        "emails": [{"value": f"{name}@example.com", "type": "work", "primary": True}],
        **extra,
    }


def by_userid(emulator: RunningEmulator) -> dict[str, dict[str, Any]]:
    return dict(emulator.emulator.users())


def test_create_place_update_and_remove_reach_dingtalk(
    scim: Any, worker: Worker, emulator: RunningEmulator
) -> None:
    sales = scim.post("/Groups", {"displayName": "Sales", "members": []}).json
    alice = scim.post("/Users", user("alice", title="Rep")).json
    scim.patch(
        f"/Groups/{sales['id']}",
        {
            "schemas": [PATCH],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": alice["id"]}]}],
        },
    )
    worker.run_until_idle()
    users = by_userid(emulator)
    assert set(users) == {"alice"}
    depts = {d["name"]: dept_id for dept_id, d in emulator.emulator.departments().items()}
    assert "Sales" in depts
    assert users["alice"]["dept_id_list"] == [depts["Sales"]]
    assert users["alice"]["title"] == "Rep"
    assert users["alice"]["mobile"] == str(int(users["alice"]["mobile"]))  # normalised 1xxxxxxxxxx

    scim.patch(
        f"/Users/{alice['id']}",
        {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "title", "value": "Lead"}]},
    )
    worker.run_until_idle()
    assert by_userid(emulator)["alice"]["title"] == "Lead"

    scim.patch(
        f"/Users/{alice['id']}",
        {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": False}}]},
    )
    worker.run_until_idle()
    assert "alice" not in by_userid(emulator)

    scim.patch(
        f"/Users/{alice['id']}",
        {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": True}}]},
    )
    worker.run_until_idle()
    assert "alice" in by_userid(emulator)  # reactivated with the same userid


def test_manager_waits_for_the_manager_to_exist(
    scim: Any, worker: Worker, emulator: RunningEmulator
) -> None:
    boss_id = "00000000-0000-0000-0000-000000000000"
    report = scim.post("/Users", user("bob")).json
    boss = scim.post("/Users", user("carol")).json
    scim.patch(
        f"/Users/{report['id']}",
        {
            "schemas": [PATCH],
            "Operations": [{"op": "add", "path": f"{ENTERPRISE}:manager", "value": boss["id"]}],
        },
    )
    assert boss_id  # a manager out of scope never blocks the report
    worker.run_until_idle()
    users = by_userid(emulator)
    assert users["bob"].get("manager_userid") == "carol"


def test_duplicate_mobile_is_dead_lettered_with_a_readable_reason(
    scim: Any,
    worker: Worker,
    emulator: RunningEmulator,
    database: Database,
    settings: Settings,
    tmp_path: Path,
) -> None:
    alerts = tmp_path / "alerts.jsonl"
    script = f"import sys; open({str(alerts)!r}, 'a').write(sys.stdin.read() + '\\n')"
    command = f"{shlex.quote(sys.executable)} -c {shlex.quote(script)}"
    engine = build_alerting(
        dataclasses.replace(settings, alert_command=command), database, environ={}
    )
    first = user("dave")
    second = user("erin")
    second["phoneNumbers"] = first["phoneNumbers"]
    scim.post("/Users", first)
    worker.run_until_idle()  # dave reaches DingTalk first; erin's copy of his mobile then clashes
    erin = scim.post("/Users", second).json
    worker.run_until_idle()
    from scim_bridge.sync.dlq import list_dead_letters, retry

    with database.read() as session:
        letters = list_dead_letters(session)
    # Dave's person is linked to him, so erin is refused it: our own conflict, no DingTalk code.
    assert [(d.resource_id, d.code) for d in letters] == [(erin["id"], "LinkConflict")]
    assert "mobile number" in letters[0].reason and "dave@example.com" in letters[0].reason
    engine.run_once()  # the dead_letters rule, through the alert command channel
    alert = json.loads(alerts.read_text(encoding="utf-8").splitlines()[0])
    labels = alert["labels"]
    assert labels["resource_id"] == erin["id"] and labels["code"] == "LinkConflict"
    # The notice goes to a chat and is stored with the alert: it names neither Dave nor his
    # userName (`dlq show` does, for the operator).
    assert "mobile" in labels["reason"] and "dave" not in json.dumps(alert).lower()
    got = scim.get(f"/Users/{erin['id']}").json
    sync = got["urn:ietf:params:scim:schemas:extension:dingtalk:2.0:User"]["sync"]
    assert sync["state"] == "failed" and "mobile" in sync["lastError"]
    # Erin's IdP may not be Dave's: what it reads names neither Dave nor his DingTalk userid.
    assert "dave" not in sync["lastError"].lower()
    assert "dave" in by_userid(emulator)

    scim.patch(
        f"/Users/{erin['id']}",
        {
            "schemas": [PATCH],
            "Operations": [
                {
                    "op": "replace",
                    "path": 'phoneNumbers[type eq "mobile"].value',
                    "value": "13800000001",
                }
            ],
        },
    )
    with database.write() as session:
        assert retry(session, None, now=datetime.now(UTC), actor="test") == 1
    worker.run_until_idle()
    assert "erin" in by_userid(emulator)


def test_person_already_in_dingtalk_is_linked_by_mobile_not_duplicated(
    scim: Any, worker: Worker, emulator: RunningEmulator
) -> None:
    # Someone HR added by hand before the bridge existed, under a userid of their own.
    emulator.emulator.load(
        {
            "users": [
                {
                    "userid": "manual-01",
                    "name": "Frank",
                    "mobile": "13911112222",
                    "dept_id_list": [1],
                }
            ]
        }
    )
    frank = user("frank", title="Buyer")
    frank["phoneNumbers"] = [{"value": "+86 139 1111 2222", "type": "mobile"}]
    created = scim.post("/Users", frank).json
    worker.run_until_idle()
    users = by_userid(emulator)
    assert set(users) == {"manual-01"}  # linked, not created again under "frank"
    assert users["manual-01"]["title"] == "Buyer"
    sync = scim.get(f"/Users/{created['id']}").json[
        "urn:ietf:params:scim:schemas:extension:dingtalk:2.0:User"
    ]["sync"]
    assert sync == {**sync, "state": "synced", "dingtalkId": "manual-01"}


def test_linking_by_email_and_the_conflict_policy(
    scim: Any, worker: Worker, emulator: RunningEmulator, database: Database
) -> None:
    emulator.emulator.load(
        {
            "users": [
                {
                    "userid": "hr-1",
                    "name": "Gina",
                    "mobile": "13922220001",
                    "email": "gina@example.com",
                    "dept_id_list": [1],
                },
                {"userid": "hr-2", "name": "Other", "mobile": "13922220002", "dept_id_list": [1]},
            ]
        }
    )
    # Gina has a new mobile, but her e-mail is known to DingTalk: she is linked by e-mail.
    gina = user("gina")
    gina["emails"] = [{"value": "GINA@example.com", "type": "work", "primary": True}]
    scim.post("/Users", gina)
    # Hal's mobile is hr-2's while his e-mail is Gina's: the keys disagree, "skip" holds him.
    hal = user("hal")
    hal["phoneNumbers"] = [{"value": "13922220002", "type": "mobile"}]
    hal["emails"] = [{"value": "gina@example.com", "type": "work", "primary": True}]
    hal_id = scim.post("/Users", hal).json["id"]
    worker.run_until_idle()
    assert set(by_userid(emulator)) == {"hr-1", "hr-2"}
    from scim_bridge.sync.dlq import list_dead_letters

    with database.read() as session:
        letters = {d.resource_id: d.reason for d in list_dead_letters(session)}
    assert hal_id in letters and "different DingTalk people" in letters[hal_id]


def test_removing_a_department_first_moves_out_members_whose_last_update_failed(
    scim: Any, worker: Worker, emulator: RunningEmulator, database: Database
) -> None:
    # Seen in the chaos e2e: a member whose last attempt failed (link "retrying") was not
    # moved out, so DingTalk refused the department's removal (60005) and it was dead-lettered.
    from sqlalchemy import update

    from scim_bridge.directory.models import Link

    sales = scim.post("/Groups", {"displayName": "Sales", "members": []}).json
    alice = scim.post("/Users", user("alice")).json
    scim.patch(
        f"/Groups/{sales['id']}",
        {
            "schemas": [PATCH],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": alice["id"]}]}],
        },
    )
    worker.run_until_idle()
    depts = {d["name"]: dept_id for dept_id, d in emulator.emulator.departments().items()}
    assert by_userid(emulator)["alice"]["dept_id_list"] == [depts["Sales"]]
    with database.write() as session:
        session.execute(update(Link).where(Link.key == alice["id"]).values(state="retrying"))
    assert scim.delete(f"/Groups/{sales['id']}").status == "204 NO CONTENT"

    worker.translator.sync_group(sales["id"])  # before alice's own change is processed

    names = {d["name"] for d in emulator.emulator.departments().values()}
    assert "Sales" not in names
    assert by_userid(emulator)["alice"]["dept_id_list"] == [1]  # moved to the root first


def test_custom_member_fields_reach_dingtalk_and_the_link_records_them(
    scim: Any, worker: Worker, emulator: RunningEmulator, database: Database
) -> None:
    # The mapping hands the translator read-only maps; the link's snapshot must still be JSON
    # (a person with custom fields was retried forever as "failed internally").
    dingtalk = "urn:ietf:params:scim:schemas:extension:dingtalk:2.0:User"
    body = user("tess", **{dingtalk: {"extension": [{"name": "Team", "value": "Blue"}]}})
    body["schemas"] = [*body["schemas"], dingtalk]
    created = scim.post("/Users", body)
    assert created.status_code == 201, created.json
    worker.run_until_idle()
    tess = by_userid(emulator)["tess"]
    held = tess["extension"]
    assert (json.loads(held) if isinstance(held, str) else held) == {"Team": "Blue"}
    state = scim.get(f"/Users/{created.json['id']}").json[dingtalk]["sync"]
    assert state["state"] == "synced", state
