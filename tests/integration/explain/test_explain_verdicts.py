"""`explain` over the real pipeline: SCIM writes -> outbox -> worker -> emulator over HTTP.

Each test drives a person into one situation and reads the explanation the operator (and the
console) would get, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from explain_support import person, replace

from scim_bridge.dingtalk.client import DingTalkClient
from scim_bridge.dingtalk.emulator import RunningEmulator
from scim_bridge.directory.db import Database
from scim_bridge.errors import AmbiguousPerson, UnknownPerson
from scim_bridge.mapping.rules import default_rules_path, load_rules
from scim_bridge.monitor import guard_state
from scim_bridge.monitor.explain import explain
from scim_bridge.monitor.verdict import LiveStatus, VerdictKind, WaitReason
from scim_bridge.sync.worker import Worker

RECONCILE = "run `scim-bridge reconcile --apply`"


def test_a_synced_person_is_in_dingtalk_and_up_to_date_by_any_name(
    scim: Any, sync: Any, explained: Any
) -> None:
    alice = scim.post("/Users", person("alice", title="Rep")).json
    sync()
    for who in ("alice@example.com", "ALICE@example.com", alice["id"], "alice"):
        got = explained(who)
        assert got.verdict.kind is VerdictKind.UP_TO_DATE, got.verdict
        assert got.verdict.sentence == "in DingTalk and up to date"
    assert got.matched_by == "DingTalk userid"
    assert got.store.present and got.store.scim_id == alice["id"] and got.store.idp == "test-idp"
    assert got.mapping.in_scope and got.mapping.fields["title"] == "Rep"
    assert got.dingtalk.live is LiveStatus.READ and got.dingtalk.differences == ()
    assert got.dingtalk.holds is not None and got.dingtalk.holds["title"] == "Rep"
    assert got.link is not None and got.link.state == "synced" and got.link.userid == "alice"
    assert got.pending is None and got.dead_letter is None and not got.guard.paused


def test_without_a_mobile_the_person_is_blocked_until_the_idp_fixes_it(
    scim: Any, sync: Any, explained: Any, clock: Any
) -> None:
    bob = scim.post("/Users", person("bob", mobile=False)).json
    sync()
    got = explained("bob@example.com")
    assert got.verdict.kind is VerdictKind.BLOCKED
    assert got.verdict.sentence == "blocked: no mobile number — fix it in the IdP"
    assert got.mapping.missing == ("mobile",)
    # DingTalk's refusal is behind it, in plain words with the fix apart.
    assert got.dead_letter is not None
    assert got.dead_letter.reason == "DingTalk requires a mobile number"
    assert "phoneNumbers" in got.dead_letter.fix

    scim.patch(
        f"/Users/{bob['id']}",
        replace(phoneNumbers=[{"value": "+86 13812345678", "type": "mobile"}]),
    )
    clock.catch_up()
    queued = explained(bob["id"])  # fixed in the IdP, not synced yet
    assert queued.verdict.sentence == "waiting: queued, the next free worker sends it"
    sync()
    fixed = explained(bob["id"])
    assert fixed.verdict.sentence == "in DingTalk and up to date"
    assert fixed.dead_letter is None and fixed.mapping.missing == ()
    assert fixed.dingtalk.holds is not None and fixed.dingtalk.holds["mobile"] == "13812345678"


def test_a_throttled_change_waits_and_says_when_the_next_attempt_is(
    scim: Any, sync: Any, explained: Any, emulator: RunningEmulator, clock: Any
) -> None:
    scim.post("/Users", person("carol"))
    sync()  # the client holds its token now
    emulator.emulator.configure(qps=0.5)  # every API call is over the limit (§8)
    dave = scim.post("/Users", person("dave")).json
    sync()
    got = explained(dave["id"])
    assert got.verdict.kind is VerdictKind.WAITING
    assert got.verdict.sentence == "waiting: DingTalk throttled, next attempt in 1 s"
    assert got.pending is not None and got.pending.why is WaitReason.THROTTLED
    assert got.pending.attempts == 0  # throttling spends no attempt
    assert got.pending.next_attempt_at > clock()
    emulator.emulator.configure(qps=0)
    clock.advance(2)
    sync()
    assert explained(dave["id"]).verdict.kind is VerdictKind.UP_TO_DATE


def test_a_failing_change_backs_off_then_dead_letters_with_its_fix(
    scim: Any, sync: Any, explained: Any, emulator: RunningEmulator, worker: Worker, clock: Any
) -> None:
    emulator.emulator.configure(fail_rate=1.0, fault_kinds=("http500",))
    erin = scim.post("/Users", person("erin")).json
    sync()
    waiting = explained(erin["id"])
    assert waiting.verdict.kind is VerdictKind.WAITING
    assert waiting.verdict.sentence.startswith(
        "waiting: attempt 1 of 8 failed (DingTalk had an internal server error), next attempt in "
    )
    assert waiting.pending is not None and waiting.pending.why is WaitReason.BACKOFF

    worker.config.max_attempts = 2
    clock.advance(3600)
    sync()
    failed = explained(erin["id"])
    assert failed.verdict.kind is VerdictKind.FAILED
    assert failed.verdict.sentence.startswith(
        "failed: DingTalk had an internal server error — the bridge retries by itself; if it "
    )
    assert failed.dead_letter is not None and failed.dead_letter.attempts == 2
    assert failed.pending is None


def test_a_burst_of_leavers_is_paused_by_the_guard_and_the_verdict_names_the_token(
    scim: Any, sync: Any, explained: Any, database: Database
) -> None:
    ids = [scim.post("/Users", person(f"staff{n}")).json["id"] for n in range(11)]
    sync()
    for user_id in ids:
        scim.patch(f"/Users/{user_id}", replace(active=False))
    sync()
    with database.read() as session:
        pause = guard_state.paused(session)
    assert pause is not None
    got = explained(ids[0])
    assert got.verdict.kind is VerdictKind.PAUSED
    assert got.verdict.sentence == (
        "paused by the mass-change guard — confirm with "
        f"`scim-bridge guard confirm {pause['token']}`"
    )
    assert got.guard.paused and got.guard.holds_person
    assert got.dingtalk.live is LiveStatus.READ  # still in DingTalk, held back


def test_a_leaver_is_removed_from_dingtalk_and_still_found_by_userid(
    scim: Any, sync: Any, explained: Any
) -> None:
    frank = scim.post("/Users", person("frank")).json
    gina = scim.post("/Users", person("gina")).json
    sync()
    scim.patch(f"/Users/{frank['id']}", replace(active=False))
    scim.delete(f"/Users/{gina['id']}")
    sync()
    got = explained("frank")
    assert got.verdict.kind is VerdictKind.REMOVED
    assert got.verdict.sentence == "removed from DingTalk (leaver)"
    assert got.store.active is False and not got.mapping.in_scope
    gone = explained("gina")  # deleted in the IdP: only the link remembers her
    assert not gone.store.present
    assert gone.verdict.sentence == "removed from DingTalk (deleted in the IdP)"


def test_an_edit_made_in_dingtalk_is_drift_naming_the_field(
    scim: Any, sync: Any, explained: Any, client: DingTalkClient
) -> None:
    scim.post("/Users", person("hank", title="Engineer"))
    sync()
    client.update_user("hank", {"title": "CEO"})  # out of band, over DingTalk's own API
    got = explained("hank")
    assert got.verdict.kind is VerdictKind.DRIFT
    assert got.verdict.sentence == f"drift: DingTalk differs in title — {RECONCILE}"
    (diff,) = got.dingtalk.differences
    assert (diff.field, diff.should, diff.holds) == ("title", "Engineer", "CEO")
    # Without the live read the bridge only knows what it applied: that still matches.
    blind = explained("hank", live=False)
    assert blind.verdict.sentence == "in DingTalk and up to date (as last applied)"


def test_a_failing_live_read_is_noted_and_the_rest_still_explained(
    scim: Any, sync: Any, explained: Any, emulator: RunningEmulator
) -> None:
    scim.post("/Users", person("ivy"))
    sync()
    emulator.emulator.configure(fail_rate=1.0, fault_kinds=("busy",))
    got = explained("ivy")
    assert got.dingtalk.live is LiveStatus.FAILED
    assert got.dingtalk.live_error is not None and "DingTalk was busy" in got.dingtalk.live_error
    assert got.verdict.kind is VerdictKind.UNVERIFIED
    assert got.verdict.sentence.startswith(
        "in DingTalk as last applied, but DingTalk could not be read now: DingTalk was busy"
    )
    assert got.link is not None and got.link.state == "synced"  # the rest is all there


def test_a_name_of_two_people_is_refused_listing_both_with_their_idp(
    scim: Any, sync: Any, explained: Any
) -> None:
    scim.post("/Users", person("other", userName="jane"))
    scim.post("/Users", person("jane", userName="jane.doe@example.com"))
    sync()
    with pytest.raises(AmbiguousPerson) as caught:
        explained("jane")
    message = str(caught.value)
    assert "'jane' names 2 users" in message
    assert "jane [SCIM id" in message and "jane.doe@example.com [SCIM id" in message
    assert message.count("IdP test-idp") == 2
    with pytest.raises(UnknownPerson, match="no user is known as 'nobody'"):
        explained("nobody")


def test_a_person_outside_the_scope_filter_is_not_in_scope_with_the_filter_named(
    scim: Any, database: Database, settings: Any, tmp_path: Path, clock: Any
) -> None:
    text = default_rules_path().read_text(encoding="utf-8")
    scoped = text.replace(
        "    filter: null                # everyone is projected",
        ('    filter: title eq "Engineer"'),
    )
    assert scoped != text
    path = tmp_path / "mapping.yaml"
    path.write_text(scoped, encoding="utf-8")
    rules = load_rules(path)
    scim.post("/Users", person("olga", title="Sales"))
    got = explain(database, None, settings, rules, "olga@example.com", now=clock())
    assert got.verdict.kind is VerdictKind.NOT_IN_SCOPE
    assert got.verdict.sentence == (
        'not in scope of the mapping: outside the scope filter (title eq "Engineer")'
    )
    assert not got.mapping.in_scope and got.dingtalk.should == {}
