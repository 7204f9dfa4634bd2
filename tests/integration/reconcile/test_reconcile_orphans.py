"""The mapping's orphan policy: report (default), adopt by a match key, remove (guarded)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from scim_bridge.bootstrap import build_worker
from scim_bridge.dingtalk.client import DingTalkClient
from scim_bridge.dingtalk.emulator import RunningEmulator
from scim_bridge.directory.db import Database
from scim_bridge.errors import ConfigError
from scim_bridge.mapping.rules import default_rules_path, load_rules
from scim_bridge.settings import Settings
from scim_bridge.sync.reconcile import Reconciler, reconcile_full
from scim_bridge.sync.worker import WorkerConfig


def person(name: str, mobile: str) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": f"{name}@example.com",
        "externalId": name,
        "displayName": name.title(),
        "phoneNumbers": [{"value": mobile, "type": "mobile"}],
        "emails": [{"value": f"{name}@example.com", "type": "work", "primary": True}],
    }


def mapping(tmp_path: Path, **changes: Any) -> Path:
    """The default mapping file with some top-level sections changed."""
    rules = yaml.safe_load(default_rules_path().read_text(encoding="utf-8"))
    for key, value in changes.items():
        if key == "link_by":
            rules["policies"]["link"]["by"] = value
        else:
            rules[key] = value
    path = tmp_path / "mapping.yaml"
    path.write_text(yaml.safe_dump(rules), encoding="utf-8")
    return path


def kinds(result: Any) -> set[tuple[str, str | None, str | None]]:
    return {(d.kind, d.scim_id, d.dingtalk_id) for d in result.comparison.drift}


def test_an_orphan_with_the_same_email_is_adopted_not_duplicated(
    tmp_path: Path,
    settings: Settings,
    database: Database,
    scim: Any,
    reader: DingTalkClient,
    console: DingTalkClient,
    emulator: RunningEmulator,
) -> None:
    path = mapping(tmp_path, link_by=[], reconcile={"orphans": "adopt", "match": "email"})
    adopting = settings.replace(mapping_file=str(path))
    erin = scim.post("/Users", person("erin", "+86 13900000999")).json["id"]  # not synced yet
    console.create_user(
        {
            "userid": "erin-by-hand",
            "name": "Erin",
            "mobile": "13700000003",
            "email": "erin@example.com",
            "dept_id_list": [1],
        }
    )
    r = Reconciler(database, reader, adopting, load_rules(path))
    assert kinds(reconcile_full(r, apply=True)) == {
        ("user_missing", erin, "erin"),  # the userid it would be created with
        ("user_orphan", None, "erin-by-hand"),
    }
    build_worker(adopting, database, client=reader, config=WorkerConfig(threads=1)).run_until_idle()
    people = emulator.emulator.users()
    assert "erin" not in people and people["erin-by-hand"]["name"] == "Erin"
    assert kinds(reconcile_full(r)) == set()


def test_an_orphan_is_removed_through_the_translator_and_its_guard(
    tmp_path: Path,
    settings: Settings,
    database: Database,
    reader: DingTalkClient,
    console: DingTalkClient,
    emulator: RunningEmulator,
) -> None:
    path = mapping(tmp_path, reconcile={"orphans": "remove"})
    removing = settings.replace(mapping_file=str(path))
    console.create_user(
        {"userid": "stranger", "name": "Stranger", "mobile": "13700000004", "dept_id_list": [1]}
    )
    r = Reconciler(database, reader, removing, load_rules(path))
    found = reconcile_full(r, apply=True)
    assert kinds(found) == {("user_orphan", None, "stranger")}
    assert found.repairs is not None and found.repairs.removing == 1
    assert "stranger" in emulator.emulator.users()  # nothing deleted by reconcile itself
    build_worker(removing, database, client=reader, config=WorkerConfig(threads=1)).run_until_idle()
    assert "stranger" not in emulator.emulator.users()
    assert kinds(reconcile_full(r)) == set()


def test_an_unknown_orphan_policy_is_refused_naming_the_key(tmp_path: Path) -> None:
    path = mapping(tmp_path, reconcile={"orphans": "delete-everything"})
    with pytest.raises(ConfigError, match="reconcile"):
        load_rules(path)
