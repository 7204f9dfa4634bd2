"""Words, not codes: every DingTalk errcode the client can meet has a reason and a fix."""

from __future__ import annotations

import pytest

from scim_bridge.dingtalk.advice import ADVICE, CLIENT_REASONS, advice_for
from scim_bridge.dingtalk.errcodes import RULES, TOKEN_REASONS


def plain_english(text: str) -> bool:
    return bool(text.strip()) and text.isascii()


@pytest.mark.parametrize("code", sorted({*RULES, *TOKEN_REASONS, *CLIENT_REASONS}))
def test_every_errcode_has_a_reason_and_a_fix_in_plain_english(code: str) -> None:
    assert code in ADVICE, f"errcode {code} has no plain-words reason"
    advice = ADVICE[code]
    assert plain_english(advice.reason) and plain_english(advice.fix), code
    assert advice.reason != advice.fix


def test_a_missing_mobile_says_what_to_give_the_user() -> None:
    words = advice_for("40035", field="mobile")
    assert str(words) == (
        "DingTalk requires a mobile number: "
        "give the user a phoneNumbers entry of type mobile in the IdP"
    )


def test_a_missing_parameter_without_a_field_stays_general() -> None:
    words = advice_for("40035")
    assert "mobile" not in str(words)
    assert "required" in words.reason


def test_a_mobile_taken_by_someone_else_names_the_clash() -> None:
    words = advice_for("60104", field="mobile")
    assert "mobile number belongs to another DingTalk member" in words.reason
    assert "IdP" in words.fix


def test_token_quota_and_scope_codes_name_the_setting_or_console() -> None:
    assert "SCIM_BRIDGE_DINGTALK_APP_SECRET" in advice_for("40096").fix
    assert "SCIM_BRIDGE_DINGTALK_APP_SECRET" in advice_for("40014").fix
    assert "SCIM_BRIDGE_DINGTALK_QPS" in advice_for("90018").fix
    assert "month" in advice_for("90020").reason
    assert "contact scope" in advice_for("50002").reason


def test_wrapped_blank_token_is_not_read_as_a_parameter_error() -> None:
    assert "token" in advice_for("40000", auth=True).reason
    assert "parameter" in advice_for("40000").reason


def test_an_unknown_code_is_named_with_where_to_look() -> None:
    words = advice_for("77777")
    assert "77777" in words.reason
    assert "detail" in words.fix


def test_an_unknown_http_server_error_is_transient_in_words() -> None:
    assert "server error" in advice_for("502").reason
