"""Dead letters, sync.lastError and alerts speak in words an IT admin can act on."""

from __future__ import annotations

import dataclasses
import json
import shlex
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from scim_bridge.bootstrap import build_alerting
from scim_bridge.cli import main
from scim_bridge.directory.db import Database
from scim_bridge.errors import DingTalkError
from scim_bridge.settings import Settings
from scim_bridge.sync import claims
from scim_bridge.sync.dlq import list_dead_letters
from scim_bridge.sync.failures import INTERNAL
from scim_bridge.sync.worker import Worker

DINGTALK_EXT = "urn:ietf:params:scim:schemas:extension:dingtalk:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
MOBILE_WORDS = (
    "DingTalk requires a mobile number: "
    "give the user a phoneNumbers entry of type mobile in the IdP"
)


def no_mobile(name: str) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": f"{name}@example.com",
        "externalId": name,
        "displayName": name.title(),
    }


def test_a_user_without_mobile_is_dead_lettered_in_words_with_dingtalk_text_as_detail(
    scim: Any, worker: Worker, database: Database, settings: Settings, tmp_path: Path
) -> None:
    alerts = tmp_path / "alerts.jsonl"
    script = f"import sys; open({str(alerts)!r}, 'a').write(sys.stdin.read() + '\\n')"
    command = f"{shlex.quote(sys.executable)} -c {shlex.quote(script)}"
    # The operator's alert command is a channel of the alert rules (notify/command.py).
    engine = build_alerting(
        dataclasses.replace(settings, alert_command=command), database, environ={}
    )
    created = scim.post("/Users", no_mobile("nomobile")).json
    worker.run_until_idle()
    engine.run_once()

    with database.read() as session:
        (letter,) = list_dead_letters(session)
    assert letter.reason == MOBILE_WORDS
    assert letter.code == "40035"
    assert letter.detail is not None and "mobile" in letter.detail  # DingTalk's own words

    sync = scim.get(f"/Users/{created['id']}").json[DINGTALK_EXT]["sync"]
    assert sync["state"] == "failed"
    assert sync["lastError"] == MOBILE_WORDS

    alert = json.loads(alerts.read_text(encoding="utf-8").splitlines()[0])
    assert (alert["event"], alert["rule"], alert["status"]) == ("alert", "dead_letters", "firing")
    assert alert["labels"]["reason"] == MOBILE_WORDS
    assert alert["labels"]["code"] == "40035"
    assert alert["labels"]["detail"] == letter.detail
    assert alert["labels"]["resource_id"] == created["id"]


def test_last_error_never_shows_an_internal_exception(scim: Any, worker: Worker) -> None:
    created = scim.post("/Users", no_mobile("internal")).json
    leak = RuntimeError("(psycopg.OperationalError) postgresql://bridge:hunter2@db failed")
    worker.translator.record_failure("User", created["id"], leak, state="retrying", attempt=1)
    sync = scim.get(f"/Users/{created['id']}").json[DINGTALK_EXT]["sync"]
    assert sync["lastError"] == INTERNAL
    assert "hunter2" not in json.dumps(sync)


def test_dlq_list_and_show_print_words_and_dingtalk_detail(
    scim: Any, worker: Worker, database: Database
) -> None:
    scim.post("/Users", no_mobile("cli"))
    worker.run_until_idle()
    with database.read() as session:
        (letter,) = list_dead_letters(session)
    env = {"SCIM_BRIDGE_DATABASE_URL": database.url}
    listed = CliRunner().invoke(main, ["dlq", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert MOBILE_WORDS in listed.output
    shown = CliRunner().invoke(main, ["dlq", "show", str(letter.id)], env=env)
    assert shown.exit_code == 0, shown.output
    assert MOBILE_WORDS in shown.output
    assert f"DingTalk said: {letter.detail}" in shown.output


def test_fixing_the_data_in_the_idp_clears_the_dead_letter(
    scim: Any, worker: Worker, database: Database
) -> None:
    created = scim.post("/Users", no_mobile("fixed")).json
    worker.run_until_idle()
    scim.patch(
        f"/Users/{created['id']}",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {
                    "op": "add",
                    "path": "phoneNumbers",
                    "value": [{"value": "13912340000", "type": "mobile"}],
                }
            ],
        },
    )
    worker.run_until_idle()
    with database.read() as session:
        assert list_dead_letters(session) == []
    sync = scim.get(f"/Users/{created['id']}").json[DINGTALK_EXT]["sync"]
    assert sync["state"] == "synced"
    assert "lastError" not in sync


def test_a_failure_overtaken_by_a_newer_change_is_not_dead_lettered(
    scim: Any, worker: Worker, database: Database
) -> None:
    """A change that fails while a newer change of the same user is committed is not buried:
    what failed is no longer what is wanted (the IdP fixed the data meanwhile, or removed the
    department the change named), and the newer change goes next. Burying it dropped the
    newer change with it (a fresh clone's CI: a user placed in a group deleted meanwhile)."""
    created = scim.post("/Users", no_mobile("latefix")).json
    (claim,) = claims.claim_due(
        database,
        owner=worker.owner,
        now=datetime.now(UTC),
        limit=1,
        lease=timedelta(minutes=5),
    )
    # The translation fails at DingTalk (no mobile: 40035), as worker.process would see it ...
    with pytest.raises(DingTalkError) as failed:
        worker.translator.sync("User", created["id"], actor=claim.actor, unsure=False)
    # ... while the IdP's fix is committed, before the worker settles the failure.
    mobile = {"op": "add", "path": "phoneNumbers", "value": [{"value": "+86 13912345678"}]}
    scim.patch(f"/Users/{created['id']}", {"schemas": [PATCH_OP], "Operations": [mobile]})
    worker.outcomes.dead_letter(claim, failed.value)

    with database.read() as session:
        assert list_dead_letters(session) == []
    worker.run_until_idle()  # the newer change: the person with the mobile
    with database.read() as session:
        assert list_dead_letters(session) == []
    sync = scim.get(f"/Users/{created['id']}").json[DINGTALK_EXT]["sync"]
    assert sync["state"] == "synced"
