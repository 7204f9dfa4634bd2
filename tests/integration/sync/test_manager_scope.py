"""A user's manager.value resolves only within the user's own IdP (docs/security.md).

Another IdP's user id is answered exactly as an id nobody has: stored as sent (so the IdP cannot
tell the two apart) and never projected, so no IdP can make another IdP's person a manager in
DingTalk.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from scim_client import ScimClient

from scim_bridge.dingtalk.emulator import RunningEmulator
from scim_bridge.directory.db import Database
from scim_bridge.directory.tokens import create_token
from scim_bridge.sync.worker import Worker

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
UNKNOWN = "00000000-0000-4000-8000-000000000000"
_mobiles = itertools.count(13700000000)


def client(app: Any, database: Database, idp: str) -> ScimClient:
    with database.write() as session:
        _row, plaintext = create_token(session, idp, idp=idp, now=datetime.now(UTC))
    return ScimClient(app.test_client(), plaintext)


def person(name: str) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": f"{name}@example.com",
        "externalId": name,
        "displayName": name.title(),
        "phoneNumbers": [{"value": str(next(_mobiles)), "type": "mobile"}],
    }


def set_manager(idp: ScimClient, user_id: str, manager_id: str) -> Any:
    body = {
        "schemas": [PATCH],
        "Operations": [{"op": "add", "path": f"{ENTERPRISE}:manager", "value": manager_id}],
    }
    return idp.patch(f"/Users/{user_id}", body)


def test_another_idps_user_is_never_projected_as_a_manager(
    app: Any, database: Database, worker: Worker, emulator: RunningEmulator
) -> None:
    a, b = client(app, database, "idp-a"), client(app, database, "idp-b")
    boss_a = a.post("/Users", person("anna")).json
    own_boss = b.post("/Users", person("bert")).json
    report = b.post("/Users", person("carl")).json
    stray = b.post("/Users", person("dora")).json

    foreign = set_manager(b, report["id"], boss_a["id"])
    unknown = set_manager(b, stray["id"], UNKNOWN)
    # The same answer for another IdP's id as for an id nobody has: nothing to tell them apart.
    assert foreign.status_code == unknown.status_code == 200
    assert foreign.json[ENTERPRISE]["manager"] == {"value": boss_a["id"]}
    worker.run_until_idle()

    users = dict(emulator.emulator.users())
    assert users["carl"].get("manager_userid") in (None, "")  # not anna: she is IdP A's
    assert users["dora"].get("manager_userid") in (None, "")

    set_manager(b, report["id"], own_boss["id"])  # the IdP's own user is linked as before
    worker.run_until_idle()
    assert dict(emulator.emulator.users())["carl"].get("manager_userid") == "bert"
