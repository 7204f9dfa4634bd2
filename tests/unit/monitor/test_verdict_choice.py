"""The verdict of `explain`, chosen from literal facts: one sentence from a closed set."""

from __future__ import annotations

import pytest

from scim_bridge.monitor.verdict import (
    Facts,
    LiveStatus,
    VerdictKind,
    Waiting,
    WaitReason,
    choose_verdict,
)

RECONCILE = "run `scim-bridge reconcile --apply`"
LINKED = Facts(linked=True, live=LiveStatus.READ)


def said(facts: Facts) -> tuple[VerdictKind, str]:
    verdict = choose_verdict(facts)
    return verdict.kind, verdict.sentence


def test_a_linked_person_read_live_without_differences_is_up_to_date() -> None:
    assert said(LINKED) == (VerdictKind.UP_TO_DATE, "in DingTalk and up to date")


def test_without_the_live_read_up_to_date_says_it_is_as_last_applied() -> None:
    facts = Facts(linked=True, live=LiveStatus.SKIPPED)
    assert said(facts) == (VerdictKind.UP_TO_DATE, "in DingTalk and up to date (as last applied)")


@pytest.mark.parametrize(
    ("waiting", "sentence"),
    [
        (
            Waiting(WaitReason.THROTTLED, seconds=40.2),
            "waiting: DingTalk throttled, next attempt in 40 s",
        ),
        (
            Waiting(
                WaitReason.BACKOFF, 95, attempts=3, max_attempts=8, last_error="DingTalk was busy"
            ),
            "waiting: attempt 3 of 8 failed (DingTalk was busy), next attempt in 95 s",
        ),
        (Waiting(WaitReason.LEASED), "waiting: a worker is sending the change to DingTalk now"),
        (Waiting(WaitReason.QUEUED), "waiting: queued, the next free worker sends it"),
        (Waiting(WaitReason.DELAYED, seconds=12), "waiting: queued, next attempt in 12 s"),
        (
            Waiting(WaitReason.DELAYED, seconds=0.4),
            "waiting: queued, the next free worker sends it",
        ),
    ],
)
def test_a_queued_change_says_why_it_waits_and_for_how_long(
    waiting: Waiting, sentence: str
) -> None:
    assert said(Facts(linked=True, waiting=waiting)) == (VerdictKind.WAITING, sentence)


def test_the_guard_pause_comes_first_and_names_the_token() -> None:
    facts = Facts(
        linked=True,
        action="remove",
        missing=("mobile",),
        dead_letter=("x", "y"),
        waiting=Waiting(WaitReason.GUARD, seconds=30),
        guard_token="abc123",
    )
    assert said(facts) == (
        VerdictKind.PAUSED,
        "paused by the mass-change guard — confirm with `scim-bridge guard confirm abc123`",
    )


def test_a_new_person_without_a_mobile_is_blocked_whatever_else_is_queued() -> None:
    facts = Facts(
        missing=("mobile",),
        dead_letter=("DingTalk requires a mobile number", "give the user a mobile"),
        waiting=Waiting(WaitReason.QUEUED),
    )
    assert said(facts) == (VerdictKind.BLOCKED, "blocked: no mobile number — fix it in the IdP")
    both = Facts(missing=("mobile", "name"))
    assert said(both)[1] == "blocked: no mobile number and no name — fix it in the IdP"


def test_a_person_already_in_dingtalk_is_not_blocked_by_a_missing_mobile() -> None:
    assert said(Facts(linked=True, live=LiveStatus.READ, missing=("mobile",)))[0] is (
        VerdictKind.UP_TO_DATE
    )


def test_a_dead_letter_fails_with_reason_and_fix_unless_a_newer_change_waits() -> None:
    letter = Facts(dead_letter=("the e-mail address belongs to another member", "fix it"))
    assert said(letter) == (
        VerdictKind.FAILED,
        "failed: the e-mail address belongs to another member — fix it",
    )
    assert said(Facts(dead_letter=("our own words", "")))[1] == "failed: our own words"
    retried = Facts(dead_letter=("x", "y"), waiting=Waiting(WaitReason.QUEUED))
    assert said(retried)[0] is VerdictKind.WAITING


def test_the_mapping_leaving_a_person_out_is_not_in_scope_whatever_is_queued() -> None:
    facts = Facts(
        action="skip",
        reason="outside the scope filter (title pr)",
        waiting=Waiting(WaitReason.QUEUED),
        dead_letter=("x", "y"),
    )
    assert said(facts) == (
        VerdictKind.NOT_IN_SCOPE,
        "not in scope of the mapping: outside the scope filter (title pr)",
    )


def test_leavers_are_removed_or_drift_while_dingtalk_still_holds_them() -> None:
    leaver = "deactivated in the IdP (active=false); leaver policy: delete"
    removed = Facts(action="remove", reason=leaver, was_removed=True)
    assert said(removed) == (VerdictKind.REMOVED, "removed from DingTalk (leaver)")
    deleted = Facts(in_store=False, action="", reason="deleted in the IdP", was_removed=True)
    assert said(deleted) == (VerdictKind.REMOVED, "removed from DingTalk (deleted in the IdP)")
    still = Facts(action="remove", reason=leaver, linked=True)
    assert said(still) == (
        VerdictKind.DRIFT,
        f"drift: {leaver}, but still in DingTalk — {RECONCILE}",
    )
    never = Facts(action="remove", reason=leaver)
    assert said(never) == (VerdictKind.NOT_IN_SCOPE, f"not in scope of the mapping: {leaver}")


def test_a_person_who_should_be_in_dingtalk_and_is_not_is_missing() -> None:
    assert said(Facts()) == (
        VerdictKind.MISSING,
        f"not in DingTalk and nothing queued — {RECONCILE}",
    )
    gone = Facts(linked=True, live=LiveStatus.ABSENT)
    assert said(gone) == (
        VerdictKind.MISSING,
        f"missing from DingTalk (removed there?) — {RECONCILE}",
    )


def test_differences_are_drift_naming_the_fields_and_where_they_were_seen() -> None:
    live = Facts(
        linked=True, live=LiveStatus.READ, differences=("mobile", "title"), against_live=True
    )
    assert said(live) == (
        VerdictKind.DRIFT,
        f"drift: DingTalk differs in mobile, title — {RECONCILE}",
    )
    stale = Facts(linked=True, differences=("title",))
    assert said(stale)[1] == f"drift: the mapping now wants a change in title — {RECONCILE}"


def test_a_failed_live_read_leaves_the_verdict_unverified_with_the_reason() -> None:
    facts = Facts(linked=True, live=LiveStatus.FAILED, live_error="DingTalk did not answer in time")
    assert said(facts) == (
        VerdictKind.UNVERIFIED,
        "in DingTalk as last applied, but DingTalk could not be read now: "
        "DingTalk did not answer in time",
    )


def test_only_up_to_date_removed_and_out_of_scope_are_settled() -> None:
    settled = {kind for kind in VerdictKind if kind.settled}
    assert settled == {VerdictKind.UP_TO_DATE, VerdictKind.REMOVED, VerdictKind.NOT_IN_SCOPE}


def test_a_person_in_dingtalk_whose_missing_mobile_was_refused_is_blocked() -> None:
    facts = Facts(
        linked=True,
        missing=("mobile",),
        dead_letter=("DingTalk does not accept the mobile number", "give a valid one"),
    )
    assert said(facts) == (VerdictKind.BLOCKED, "blocked: no mobile number — fix it in the IdP")


def test_a_mobile_dropped_in_the_idp_that_dingtalk_keeps_is_blocked_not_drift() -> None:
    facts = Facts(
        linked=True,
        live=LiveStatus.READ,
        missing=("mobile",),
        differences=("mobile",),
        against_live=True,
    )
    assert said(facts)[0] is VerdictKind.BLOCKED
    other = Facts(linked=True, live=LiveStatus.READ, missing=("mobile",), differences=("title",))
    assert said(other)[0] is VerdictKind.DRIFT
