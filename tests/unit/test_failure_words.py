"""What people are told when a change cannot reach DingTalk: plain words, never internals."""

from __future__ import annotations

from scim_bridge.errors import (
    AmbiguousWrite,
    AuthFailed,
    DingTalkConflict,
    DingTalkInvalid,
    ProjectionPaused,
)
from scim_bridge.sync.failures import explain


def test_dingtalk_refusal_becomes_words_with_dingtalk_text_as_detail() -> None:
    exc = DingTalkInvalid("40035", "缺少参数 mobile", api="/topapi/v2/user/create", field="mobile")
    words = explain(exc)
    assert words.text == (
        "DingTalk requires a mobile number: "
        "give the user a phoneNumbers entry of type mobile in the IdP"
    )
    assert words.code == "40035"
    assert words.detail == "缺少参数 mobile"
    assert "缺少" not in words.text


def test_a_blank_wrapped_token_reads_as_a_token_problem() -> None:
    words = explain(AuthFailed("40000", "access_token is blank", api="/topapi/v2/user/get"))
    assert "token" in words.text


def test_an_ambiguous_write_keeps_dingtalk_text_out_of_the_words() -> None:
    exc = AmbiguousWrite("timeout", "no answer within 10 s; re-read", api="/topapi/v2/user/create")
    words = explain(exc)
    assert "did not answer in time" in words.text
    assert words.detail == "no answer within 10 s; re-read"


def test_our_own_conflict_keeps_its_words() -> None:
    exc = DingTalkConflict(
        "link", "mobile 139 belongs to DingTalk user jdoe, who is linked to another SCIM user"
    )
    words = explain(exc)
    assert words.text.startswith("mobile 139 belongs to DingTalk user jdoe")
    assert words.detail is None


def test_a_paused_projection_says_how_to_release_it() -> None:
    words = explain(ProjectionPaused("mass-change guard: 60% leave; confirm with `x`"))
    assert words.text == "mass-change guard: 60% leave; confirm with `x`"


def test_an_internal_error_never_shows_its_text() -> None:
    exc = RuntimeError("(psycopg.OperationalError) connection to postgresql://u:hunter2@db failed")
    words = explain(exc)
    assert "hunter2" not in words.text and "psycopg" not in words.text
    assert "log" in words.text
    assert words.code == "RuntimeError"
    assert words.detail is None
