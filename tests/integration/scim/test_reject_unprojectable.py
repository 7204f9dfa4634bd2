"""SCIM_BRIDGE_REJECT_UNPROJECTABLE: a user DingTalk could never accept gets 400 at SCIM time,
so the IdP's provisioning log shows why; by default it is accepted and dead-lettered later."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from scim_bridge.app import create_app
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import OutboxEntry, User
from scim_bridge.mapping.rules import default_rules_path
from scim_bridge.settings import Settings

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


def person(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "schemas": [CORE],
        "userName": f"{name}@example.com",
        "displayName": name.title(),
        "phoneNumbers": [{"value": "13912345678", "type": "mobile"}],
        **extra,
    }


@pytest.fixture
def client_of(scim: Any, database: Database, token: str) -> Any:
    """A factory: a SCIM client (like ``scim``) of an app built from the given settings."""

    def make(settings: Settings) -> Any:
        return type(scim)(create_app(settings, db=database).test_client(), token)

    return make


@pytest.fixture
def strict(settings: Settings, client_of: Any) -> Any:
    """A client of an app that refuses users DingTalk could never accept."""
    return client_of(settings.replace(reject_unprojectable=True))


def stored(database: Database) -> tuple[int, int]:
    with database.read() as session:
        users = session.scalar(select(func.count()).select_from(User))
        rows = session.scalar(select(func.count()).select_from(OutboxEntry))
    return int(users or 0), int(rows or 0)


def assert_refused(answer: Any, *words: str) -> None:
    assert answer.status_code == 400, answer.json
    assert answer.json["scimType"] == "invalidValue"
    assert answer.json["status"] == "400"
    for word in words:
        assert word in answer.json["detail"]


def test_post_without_mobile_is_refused_naming_the_attribute_and_the_fix(
    strict: Any, database: Database
) -> None:
    answer = strict.post("/Users", person("nomobile", phoneNumbers=[]))
    assert_refused(
        answer,
        'phoneNumbers[type eq "mobile"].value',
        "give the user a phoneNumbers entry of type mobile in the IdP",
    )
    assert stored(database) == (0, 0)


def test_post_with_an_invalid_mobile_is_refused(strict: Any, database: Database) -> None:
    answer = strict.post("/Users", person("badmobile", phoneNumbers=[{"value": "12"}]))
    assert_refused(answer, "valid mobile number")
    assert stored(database) == (0, 0)


def test_by_default_the_same_user_is_accepted(scim: Any, database: Database) -> None:
    assert scim.post("/Users", person("nomobile", phoneNumbers=[])).status_code == 201
    assert stored(database) == (1, 1)


def test_put_and_patch_that_remove_the_mobile_are_refused_and_change_nothing(
    strict: Any,
) -> None:
    created = strict.post("/Users", person("alice")).json
    uid, version = created["id"], created["meta"]["version"]
    assert_refused(strict.put(f"/Users/{uid}", person("alice", phoneNumbers=[])), "mobile")
    remove = {"schemas": [PATCH], "Operations": [{"op": "remove", "path": "phoneNumbers"}]}
    assert_refused(strict.patch(f"/Users/{uid}", remove), "mobile")
    after = strict.get(f"/Users/{uid}").json
    assert after["meta"]["version"] == version
    assert after["phoneNumbers"][0]["value"] == "13912345678"


def test_a_deactivation_is_never_refused(scim: Any, strict: Any) -> None:
    uid = scim.post("/Users", person("leaver", phoneNumbers=[])).json["id"]  # accepted earlier
    off = {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": False}}]}
    assert strict.patch(f"/Users/{uid}", off).status_code in (200, 204)


def test_bulk_refuses_the_operation_not_the_request(strict: Any, database: Database) -> None:
    body = {
        "schemas": [BULK],
        "Operations": [
            {
                "method": "POST",
                "path": "/Users",
                "bulkId": "bad",
                "data": person("b", phoneNumbers=[]),
            },
            {"method": "POST", "path": "/Users", "bulkId": "good", "data": person("g")},
        ],
    }
    answer = strict.post("/Bulk", body)
    assert answer.status_code == 200, answer.json
    results = {op["bulkId"]: op for op in answer.json["Operations"]}
    assert results["bad"]["status"] == "400"
    assert results["bad"]["response"]["scimType"] == "invalidValue"
    assert "mobile" in results["bad"]["response"]["detail"]
    assert results["good"]["status"] == "201"
    assert stored(database)[0] == 1


def test_a_name_the_mapping_would_drop_is_refused(
    settings: Settings, client_of: Any, tmp_path: Path
) -> None:
    mapping = tmp_path / "mapping.yaml"
    default = default_rules_path().read_text(encoding="utf-8")
    mapping.write_text(
        default.replace(
            "      from: [displayName, name.formatted]\n",
            "      from: [displayName, name.formatted]\n      on_overflow: drop\n",
        ),
        encoding="utf-8",
    )
    strict_settings = settings.replace(reject_unprojectable=True, mapping_file=str(mapping))
    client = client_of(strict_settings)
    answer = client.post("/Users", person("long", displayName="N" * 81))
    assert_refused(answer, "displayName", "longer than 80 characters")
    assert client.post("/Users", person("short", displayName="N" * 80)).status_code == 201


def test_a_changed_mapping_file_is_read_again(
    settings: Settings, client_of: Any, tmp_path: Path
) -> None:
    mapping = tmp_path / "mapping.yaml"
    default = default_rules_path().read_text(encoding="utf-8")
    mapping.write_text(default, encoding="utf-8")
    os.utime(mapping, (1_000_000, 1_000_000))
    strict_settings = settings.replace(reject_unprojectable=True, mapping_file=str(mapping))
    client = client_of(strict_settings)
    assert client.post("/Users", person("one", displayName="N" * 81)).status_code == 201
    mapping.write_text(
        default.replace(
            "      from: [displayName, name.formatted]\n",
            "      from: [displayName, name.formatted]\n      on_overflow: drop\n",
        ),
        encoding="utf-8",
    )
    os.utime(mapping, (2_000_000, 2_000_000))
    assert_refused(client.post("/Users", person("two", displayName="N" * 81)), "longer than 80")
