"""The worker carries out the failures and changes pages' actions (sync/console_actions.py)."""

from __future__ import annotations

from typing import Any

from console_support import Clock
from ops_support import add_letter, ask, bad_mobile_words, letters, outcome, pause_the_guard, queued
from ops_support import rules as default_rules

from scim_bridge.directory.db import Database
from scim_bridge.mapping.project import project_directory
from scim_bridge.monitor import guard_state
from scim_bridge.monitor.dead_letter_groups import group_key
from scim_bridge.monitor.plan_preview import stored_preview
from scim_bridge.sync.console_actions import ActionTools, carry_out_actions
from scim_bridge.sync.dryrun import current_from_links, load_directory
from scim_bridge.sync.plan import plan
from scim_bridge.sync.plan_render import plan_dict

TOOLS = ActionTools(rules=default_rules)


def run(database: Database, tools: ActionTools = TOOLS) -> int:
    return carry_out_actions(database, clock=Clock(), wake=lambda: None, tools=tools)


def test_retry_a_group_queues_every_letter_of_the_cause_now(database: Database) -> None:
    words = bad_mobile_words()
    add_letter(database, "m1", code="60103", reason=words)
    action = ask(database, "retry", f"group:{group_key('60103', words)}")
    # A letter of the same cause that arrives after the page was drawn is retried too.
    add_letter(database, "m2", code="60103", reason=words)
    add_letter(database, "other", code="60106", reason="taken")
    assert run(database) == 1
    assert queued(database) == ["m1", "m2"]
    assert letters(database) == ["other"]
    assert outcome(database, action) == "2 dead letter(s) queued again"


def test_drop_a_group_forgets_only_that_cause(database: Database) -> None:
    words = bad_mobile_words()
    add_letter(database, "m1", code="60103", reason=words)
    add_letter(database, "m2", code="60103", reason=words)
    add_letter(database, "other", code="60106", reason="taken")
    action = ask(database, "drop", f"group:{group_key('60103', words)}@2")
    run(database)
    assert letters(database) == ["other"] and queued(database) == []
    assert outcome(database, action) == "2 dead letter(s) dropped"


def test_a_drop_forgets_no_more_than_was_confirmed(database: Database) -> None:
    words = bad_mobile_words()
    add_letter(database, "m1", code="60103", reason=words)
    action = ask(database, "drop", f"group:{group_key('60103', words)}@1")
    add_letter(database, "m2", code="60103", reason=words)  # joined after the confirmation
    run(database)
    assert letters(database) == ["m1", "m2"]
    assert outcome(database, action) == (
        "not carried out: the cause holds 2 letter(s) now, not the 1 confirmed; "
        "open the failures page and confirm again"
    )


def test_a_group_fixed_before_the_worker_acts_names_nothing(database: Database) -> None:
    action = ask(database, "retry", "group:0123456789abcdef")
    run(database)
    assert outcome(database, action) == "nothing to do: no dead letter has this cause any more"


def test_guard_confirm_releases_the_burst(database: Database) -> None:
    token = pause_the_guard(database)
    action = ask(database, "guard_confirm", token)
    run(database)
    assert outcome(database, action) == "released 12 removal(s); the translator proceeds now"
    assert queued(database) == [f"p{i:02d}" for i in range(12)]
    with database.read() as session:
        assert guard_state.paused(session) is None


def test_guard_reject_holds_the_burst_and_queues_nothing(database: Database) -> None:
    token = pause_the_guard(database)
    action = ask(database, "guard_reject", token)
    run(database)
    assert outcome(database, action) == (
        "rejected: 12 removal(s) stay held; those people stay in DingTalk"
    )
    assert queued(database) == []
    with database.read() as session:
        pause = guard_state.paused(session)
        rejection = guard_state.rejection(session)
    assert pause is not None and pause["rejected_by"] == "console:ada"
    assert rejection is not None and len(rejection["pending"]) == 12
    # Confirming after all still works, with the same token.
    again = ask(database, "guard_confirm", token)
    run(database)
    assert outcome(database, again) == "released 12 removal(s); the translator proceeds now"
    with database.read() as session:
        assert guard_state.rejection(session) is None


def test_a_stale_guard_token_is_refused_in_plain_words(database: Database) -> None:
    pause_the_guard(database)
    action = ask(database, "guard_reject", "not-the-token")
    run(database)
    assert (outcome(database, action) or "").startswith("not carried out: token 'not-the-token'")
    assert queued(database) == []


def test_guard_actions_need_the_mapping_rules(database: Database) -> None:
    token = pause_the_guard(database)
    action = ask(database, "guard_confirm", token)
    run(database, ActionTools())
    assert outcome(database, action) == "not carried out: this worker has no mapping rules"


def test_plan_stores_the_preview_plan_would_print(database: Database, scim: Any) -> None:
    for i in range(3):
        body = {"userName": f"p{i}@example.com", "displayName": f"P {i}",
                "phoneNumbers": [{"value": f"1380000000{i}", "type": "mobile"}]}  # fmt: skip
        assert scim.post("/Users", body).status_code == 201
    action = ask(database, "plan", "preview")
    run(database)
    users, groups = load_directory(database)
    expected = plan_dict(
        plan(project_directory(users, groups, default_rules()), current_from_links(database))
    )
    with database.read() as session:
        preview = stored_preview(session)
    assert preview is not None
    assert {f"{k.target}.{k.kind}": k.count for k in preview.kinds} == {
        f"{target}.{kind}": count
        for target, kinds in expected["totals"].items()
        if target != "calls"
        for kind, count in kinds.items()
    }
    # Three people to create, no department: each lands in the root.
    assert preview.calls == expected["totals"]["calls"] == preview.total == 3
    (creates,) = preview.kinds
    assert any(["name", "-", '"P 1"'] in row["changes"] for row in creates.rows)
    assert (outcome(database, action) or "").startswith("plan preview computed: 3 operation(s)")


def test_apply_without_a_reconcile_says_so(database: Database) -> None:
    action = ask(database, "apply", "reconcile:1")
    run(database)
    assert outcome(database, action) == (
        "not carried out: this worker does not reconcile (DingTalk not configured)"
    )


def test_short_and_long_actions_are_carried_out_by_their_own_jobs(database: Database) -> None:
    plan_action = ask(database, "plan", "preview")
    add_letter(database, "m1", code="60103", reason=bad_mobile_words())
    retry = ask(database, "retry", "all")
    short = carry_out_actions(database, clock=Clock(), wake=lambda: None, tools=TOOLS, only="short")
    assert short == 1 and outcome(database, retry) == "1 dead letter(s) queued again"
    assert outcome(database, plan_action) is None  # waits for the long job
    long = carry_out_actions(database, clock=Clock(), wake=lambda: None, tools=TOOLS, only="long")
    assert long == 1 and (outcome(database, plan_action) or "").startswith("plan preview computed")
