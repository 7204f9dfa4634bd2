"""`scim-bridge erase USER`: a synced person goes from the store, from DingTalk (through the
translator) and from the audit payloads; the receipt exists; `audit verify` still passes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from audit_support import dump, records
from click.testing import CliRunner
from sqlalchemy import delete, select, text

from scim_bridge.cli import main
from scim_bridge.dingtalk.emulator import RunningEmulator
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import AuditCheckpoint, AuditRecord
from scim_bridge.monitor.audit_chain import GENESIS, chain_pending, link_hash
from scim_bridge.sync.worker import Worker

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
#: What the person's data looks like: none of it may be left anywhere after the erasure.
PERSONAL = ("zoe.quinn@example.com", "Zoe Quinn", "13411112222", "Night Auditor", "Zq-Secret-77")


def cli(db_url: str, *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, list(args), input=stdin, env={"SCIM_BRIDGE_DATABASE_URL": db_url}
    )
    return result.exit_code, result.output


def count(database: Database, statement: str, **params: Any) -> int:
    with database.read() as session:
        return int(session.scalar(text(statement), params) or 0)


def synced_person(scim: Any, worker: Worker, emulator: RunningEmulator) -> tuple[str, str]:
    """Zoe, in a group, synced to DingTalk, with a title change; and her colleague's id."""
    body = {
        "userName": "zoe.quinn@example.com",
        "externalId": "zq-7781",
        "displayName": "Zoe Quinn",
        "password": "Zq-Secret-77",
        "phoneNumbers": [{"value": "13411112222", "type": "mobile"}],
        "emails": [{"value": "zoe.quinn@example.com", "type": "work", "primary": True}],
    }
    zoe = scim.post("/Users", body).json["id"]
    colleague = scim.post(
        "/Users",
        {
            "userName": "yan@example.com",
            "externalId": "yan",
            "displayName": "Yan",
            "phoneNumbers": [{"value": "13411113333", "type": "mobile"}],
        },
    ).json["id"]
    team = [{"value": zoe}, {"value": colleague}]
    scim.post("/Groups", {"displayName": "Night Shift", "members": team})
    title = {"op": "replace", "path": "title", "value": "Night Auditor"}
    scim.patch(f"/Users/{zoe}", {"schemas": [PATCH], "Operations": [title]})
    worker.run_until_idle()
    assert "zq-7781" in emulator.emulator.users()
    return zoe, colleague


def test_erase_asks_first_and_changes_nothing_when_declined(
    scim: Any, worker: Worker, emulator: RunningEmulator, database: Database, db_url: str
) -> None:
    zoe, _ = synced_person(scim, worker, emulator)
    code, out = cli(db_url, "erase", "zoe.quinn@example.com", stdin="n\n")
    assert code == 1
    assert f"the User {zoe}" in out
    assert "the DingTalk account zq-7781 (through the translator)" in out
    assert "erase this person for good?" in out
    assert count(database, "SELECT count(*) FROM users WHERE id = :id", id=zoe) == 1
    assert count(database, "SELECT count(*) FROM erasure_receipts") == 0


def test_erase_of_a_synced_person_end_to_end(
    scim: Any, worker: Worker, emulator: RunningEmulator, database: Database, db_url: str
) -> None:
    zoe, colleague = synced_person(scim, worker, emulator)
    chain_pending(database, now=datetime.now(UTC))  # most of her records are chained by now
    before = dump(database, db_url)
    assert all(value in before for value in PERSONAL[:4])  # the search below can fail
    code, out = cli(db_url, "erase", "zq-7781", "--yes", "--actor", "dpo@example.com")
    assert code == 0, out
    assert f"erased User {zoe}: receipt 1" in out

    # The store: her row, values and memberships are gone; her colleague is untouched.
    for table, column in (
        ("users", "id"),
        ("user_values", "user_id"),
        ("group_members", "member_id"),
    ):
        assert count(database, f"SELECT count(*) FROM {table} WHERE {column} = :id", id=zoe) == 0  # noqa: S608
    assert count(database, "SELECT count(*) FROM users WHERE id = :id", id=colleague) == 1
    code, out = cli(db_url, "erase", "--receipt", "1")
    assert "DingTalk: waiting for the translator" in out

    worker.run_until_idle()
    assert "zq-7781" not in emulator.emulator.users()
    assert "yan" in emulator.emulator.users()
    code, out = cli(db_url, "erase", "--receipt", "1")
    assert code == 0, out
    lines = out.strip().splitlines()
    assert lines[0] == f"erasure receipt 1: User {zoe} (DingTalk zq-7781)"
    assert lines[1].startswith("asked by dpo@example.com at ")
    assert "user 1" in lines[2] and "memberships 1" in lines[2] and "audit_payloads" in lines[2]
    assert lines[3].startswith("DingTalk confirmed ") and "delete of zq-7781" in lines[3]
    code, listed = cli(db_url, "audit", "erasures")
    assert listed == out

    # The trail: her payloads are markers; the chain still verifies; the erasure is in it.
    mine = [r for r in records(database) if r["resource_id"] == zoe]
    erased = [r for r in mine if "erased" in r["detail"]]
    assert len(erased) >= 4  # POST, PATCH, DELETE and the DingTalk create at least
    assert all(r["detail"] == {"erased": {"receipt": 1}} for r in erased)
    (receipt,) = [r for r in mine if r["operation"] == "ERASE"]
    assert receipt["actor"] == "dpo@example.com" and receipt["detail"]["receipt"] == 1
    code, out = cli(db_url, "audit", "verify")
    assert code == 0, out
    assert "the audit trail is intact" in out
    stored = dump(database, db_url)
    for value in PERSONAL:
        assert value not in stored, value

    # History still tells the story, without the data.
    code, out = cli(db_url, "audit", "history", zoe, "--format", "json")
    assert code == 0, out
    summaries = [e["summary"] for e in json.loads(out)["entries"]]
    assert "payload erased (receipt 1)" in summaries
    assert any(s.startswith("ERASE: receipt 1, removed audit_payloads") for s in summaries)


def test_a_forged_erasure_marker_is_caught(
    scim: Any, worker: Worker, emulator: RunningEmulator, database: Database, db_url: str
) -> None:
    zoe, _ = synced_person(scim, worker, emulator)
    chain_pending(database, now=datetime.now(UTC))
    with database.write() as session:
        session.execute(
            text(
                "UPDATE audit_records SET detail = :marker WHERE resource_id = :id "
                "AND operation = 'POST'"
            ),
            {"marker": '{"erased":{"receipt":99}}', "id": zoe},
        )
    code, out = cli(db_url, "audit", "verify")
    assert code == 1
    assert "claims erasure receipt 99, which does not exist" in out


def test_erasing_nobody_is_a_one_line_error(db_url: str, database: Database) -> None:
    code, out = cli(db_url, "erase", "ghost", "--yes")
    assert code == 1
    assert out.strip().splitlines() == [
        "Error: no user is known as 'ghost': give a SCIM id, a userName or a DingTalk userid "
        "(`scim-bridge dlq list` and the SCIM API list who is there)"
    ]


def as_chained_before_0010(database: Database) -> None:
    """Re-chain every record under the first rule (detail hashed itself, no digest)."""
    with database.write() as session:
        chained = session.scalars(
            select(AuditRecord).where(AuditRecord.seq.is_not(None)).order_by(AuditRecord.seq)
        ).all()
        prev = GENESIS
        for record in chained:
            record.detail_hash = None
            record.prev_hash = prev
            record.hash = prev = link_hash(prev, record)
        session.execute(delete(AuditCheckpoint))
        session.add(AuditCheckpoint(seq=chained[-1].seq, hash=prev, at=datetime.now(UTC)))


def test_an_erased_record_chained_before_0010_keeps_its_place_in_the_chain(
    scim: Any, database: Database, db_url: str
) -> None:
    kim = scim.post("/Users", {"userName": "kim.ng@example.com", "displayName": "Kim Ng"})
    kim_id = kim.json["id"]
    scim.post("/Users", {"userName": "lee@example.com"})
    chain_pending(database, now=datetime.now(UTC))
    as_chained_before_0010(database)
    assert cli(db_url, "audit", "verify")[0] == 0
    code, out = cli(db_url, "erase", kim_id, "--yes", "--actor", "dpo")
    assert code == 0, out
    code, out = cli(db_url, "erase", "--receipt", "1")
    assert "not in DingTalk: nothing to remove there" in out  # never synced: confirmed at once
    code, out = cli(db_url, "audit", "verify")
    assert code == 0, out
    assert "Kim Ng" not in dump(database, db_url)


def test_a_refused_write_naming_the_person_is_erased_too(
    scim: Any, database: Database, db_url: str
) -> None:
    body = {"userName": "o'hara_x@example.com", "displayName": "Ann O'Hara"}
    ann = scim.post("/Users", body).json["id"]
    assert scim.post("/Users", body).status_code == 409  # recorded without a resource id
    refused = [r for r in records(database) if r["status"] == 409]
    assert "o'hara_x@example.com" in json.dumps(refused[0]["detail"])
    code, out = cli(db_url, "erase", ann, "--yes")
    assert code == 0, out
    (after,) = [r for r in records(database) if r["id"] == refused[0]["id"]]
    assert after["detail"] == {"erased": {"receipt": 1}}
    assert cli(db_url, "audit", "verify")[0] == 0
