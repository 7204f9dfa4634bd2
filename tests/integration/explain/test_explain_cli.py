"""`scim-bridge explain USER`: readable sections, the verdict last, JSON, exit status."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner
from explain_support import person

from scim_bridge.cli import main
from scim_bridge.dingtalk.emulator import RunningEmulator


def run(db_url: str, emulator: RunningEmulator | None, *args: str) -> tuple[int, str]:
    env = {"SCIM_BRIDGE_DATABASE_URL": db_url}
    if emulator is not None:
        cfg = emulator.emulator.config
        env |= {
            "SCIM_BRIDGE_DINGTALK_BASE_URL": emulator.url,
            "SCIM_BRIDGE_DINGTALK_APP_KEY": cfg.app_key,
            "SCIM_BRIDGE_DINGTALK_APP_SECRET": cfg.app_secret,
        }
    result = CliRunner().invoke(main, ["explain", *args], env=env)
    return result.exit_code, result.output


def test_explain_prints_every_section_and_the_verdict_last_exit_0_when_up_to_date(
    db_url: str, scim: Any, sync: Any, emulator: RunningEmulator
) -> None:
    scim.post("/Users", person("kate", title="Analyst"))
    sync()
    code, out = run(db_url, emulator, "kate@example.com")
    assert code == 0, out
    for heading in (
        "In the store",
        "In the mapping",
        "In DingTalk",
        "Link",
        "Pending change",
        "Dead letter",
        "Mass-change guard",
    ):
        assert f"\n{heading}\n" in out
    assert "read live from DingTalk" in out and "Analyst" in out
    assert out.rstrip().splitlines()[-1] == "Verdict: in DingTalk and up to date"

    code, out = run(db_url, emulator, "kate", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["verdict"] == {"kind": "up_to_date", "sentence": "in DingTalk and up to date"}
    assert data["dingtalk"]["live"] == "read" and data["link"]["state"] == "synced"


def test_explain_exits_1_for_a_blocked_person_and_reads_nothing_with_no_live(
    db_url: str, scim: Any, sync: Any
) -> None:
    scim.post("/Users", person("liam", mobile=False))
    sync()
    # No DingTalk is configured at all: --no-live needs none.
    code, out = run(db_url, None, "liam@example.com", "--no-live")
    assert code == 1
    assert "reason: DingTalk requires a mobile number" in out
    assert out.rstrip().endswith("Verdict: blocked: no mobile number — fix it in the IdP")


def test_explain_without_dingtalk_settings_still_explains_and_says_why_not_read(
    db_url: str, scim: Any, sync: Any
) -> None:
    scim.post("/Users", person("mia"))
    sync()
    code, out = run(db_url, None, "mia")
    assert code == 1  # unverified: DingTalk could not be read
    assert "could not read DingTalk: DingTalk is not configured" in out
    assert "Verdict: in DingTalk as last applied, but DingTalk could not be read now" in out


def test_explain_of_nobody_is_one_error_line(db_url: str) -> None:
    code, out = run(db_url, None, "nobody@example.com")
    assert code == 1
    assert out.strip().splitlines() == [
        "Error: no user is known as 'nobody@example.com': give a SCIM id, a userName or a "
        "DingTalk userid (`scim-bridge dlq list` and the SCIM API list who is there)"
    ]
