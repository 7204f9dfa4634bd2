"""The operator commands around projection: quality, plan, mapping check, dlq, guard."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from scim_bridge.cli import main
from scim_bridge.directory import groups, users
from scim_bridge.directory.db import Database
from scim_bridge.directory.prepared import Cursor
from scim_bridge.directory.tokens import Principal
from scim_bridge.directory.users import Context
from scim_bridge.mapping.rules import default_rules_path

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample_directory.json"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def run(db_url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env={"SCIM_BRIDGE_DATABASE_URL": db_url})
    return result.exit_code, result.output


def seed_sample(database: Database) -> dict[str, Any]:
    """Load the sample directory through the services; return it with the new ids mapped."""
    sample = json.loads(SAMPLE.read_text(encoding="utf-8"))
    ctx = Context(principal=Principal(1, "seed", "seed", "auto"), now=datetime.now(UTC))
    new_id: dict[str, str] = {}
    managers: dict[str, str] = {}
    with database.write() as session:
        for user in sample["users"]:
            body = {k: v for k, v in user.items() if k not in ("id", "groups", "meta")}
            manager = (body.get(ENTERPRISE) or {}).pop("manager", None)
            if manager:
                managers[user["id"]] = manager["value"]
            new_id[user["id"]] = users.create_user(Cursor.of(session), body, ctx).id
        for old, manager_id in managers.items():
            # Managers out of scope keep an id nobody has (the sample plants two).
            target = new_id.get(manager_id, manager_id)
            users.patch_user(
                Cursor.of(session),
                new_id[old],
                {
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "add", "path": f"{ENTERPRISE}:manager", "value": target}],
                },
                ctx,
            )
        for group in sample["groups"]:
            members = [{"value": new_id[m["value"]]} for m in group.get("members", [])]
            groups.create_group(
                session, {"displayName": group["displayName"], "members": members}, ctx
            )
    return {"sample": sample, "ids": new_id}


@pytest.fixture
def seeded(db_url: str, database: Database) -> dict[str, Any]:
    return seed_sample(database)


def test_quality_reports_every_planted_problem_and_exits_non_zero(
    db_url: str, seeded: dict[str, Any]
) -> None:
    code, out = run(db_url, "quality", "--format", "json")
    assert code == 1
    report = json.loads(out[out.index("{") :])
    found = {(f["check"], f["id"]) for f in report["findings"]}
    ids = seeded["ids"]
    bad = seeded["sample"]["declared"]["bad"]
    for old in bad["invalid_mobile"]:
        assert ("mobile_invalid", ids[old]) in found
    for old in bad["missing_mobile"]:
        assert ("mobile_missing", ids[old]) in found
    for pair in bad["duplicate_mobile"]:
        assert {("mobile_duplicate", ids[o]) for o in pair} <= found
    assert report["users_checked"] == seeded["sample"]["declared"]["people"]


def test_plan_lists_the_calls_and_writes_nothing(db_url: str, seeded: dict[str, Any]) -> None:
    code, out = run(db_url, "plan", "--source", "links", "--format", "json")
    assert code == 0, out
    result = json.loads(out[out.index("{") :])
    declared = seeded["sample"]["declared"]
    assert result["totals"]["department"]["create"] == len(declared["groups"])
    creates = result["totals"]["user"]["create"]
    # Everyone active is created; leavers are not.
    assert creates == declared["people"] - len(declared["leavers"])
    code, table = run(db_url, "plan", "--source", "links")
    assert code == 0 and "create" in table
    # A dry run: nothing was linked, nothing queued anew.
    code, again = run(db_url, "plan", "--source", "links", "--format", "json")
    assert json.loads(again[again.index("{") :])["totals"] == result["totals"]


def test_mapping_check_names_line_key_and_fix(tmp_path: Path, db_url: str) -> None:
    default = default_rules_path().read_text(encoding="utf-8")
    good = tmp_path / "good.yaml"
    good.write_text(default, encoding="utf-8")
    assert run(db_url, "mapping", "check", str(good)) == (0, f"{good}: ok\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text(default.replace("    title: title", "    titel: title"), encoding="utf-8")
    line = default.splitlines().index("    title: title") + 1
    code, out = run(db_url, "mapping", "check", str(bad))
    assert code == 1
    assert f"bad.yaml:{line}" in out and "titel" in out and '"title"' in out


def test_dlq_and_guard_commands_on_a_quiet_bridge(db_url: str) -> None:
    assert run(db_url, "dlq", "list") == (0, "the dead-letter list is empty\n")
    code, out = run(db_url, "dlq", "retry")
    assert code != 0 and "--all" in out
    code, out = run(db_url, "guard", "status")
    assert code == 0 and "not paused" in out
    code, out = run(db_url, "guard", "confirm", "abc")
    assert code != 0 and "nothing to confirm" in out
