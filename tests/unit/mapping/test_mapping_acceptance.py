"""Whether DingTalk could ever accept a user: the quality checks, one user at a time."""

from __future__ import annotations

from typing import Any

from scim_bridge.mapping import load_rules, parse_rules
from scim_bridge.mapping.acceptance import refusals
from scim_bridge.mapping.rules import default_rules_path

DEFAULT = load_rules(default_rules_path())
FIELDS = """\
version: 1
users:
  fields:
    name: {from: [displayName]}
    mobile: {from: ['phoneNumbers[type eq "mobile"].value'], transform: mobile}
"""
DROP_LONG_NAMES = "{from: [displayName], on_overflow: drop}"


def person(**extra: Any) -> dict[str, Any]:
    return {
        "userName": "jdoe@example.com",
        "displayName": "Jane Doe",
        "phoneNumbers": [{"value": "+86 139 1234 5678", "type": "mobile"}],
        **extra,
    }


def test_a_complete_user_is_accepted() -> None:
    assert refusals(person(), DEFAULT) == []


def test_no_mobile_is_refused_naming_the_attribute_and_the_fix() -> None:
    (refusal,) = refusals(person(phoneNumbers=[]), DEFAULT)
    assert refusal.check == "mobile_missing"
    assert refusal.attribute == 'phoneNumbers[type eq "mobile"].value'
    assert str(refusal) == (
        'DingTalk requires a mobile number and the user has none (phoneNumbers[type eq "mobile"]'
        ".value): give the user a phoneNumbers entry of type mobile in the IdP"
    )


def test_an_invalid_mobile_is_refused() -> None:
    (refusal,) = refusals(person(phoneNumbers=[{"value": "12", "type": "mobile"}]), DEFAULT)
    assert refusal.check == "mobile_invalid"
    assert "valid mobile number" in refusal.fix


def test_no_name_is_refused() -> None:
    user = {"userName": "x", "phoneNumbers": [{"value": "13912345678", "type": "mobile"}]}
    (refusal,) = refusals(user, DEFAULT)
    assert refusal.check == "name_missing"
    assert refusal.attribute == "displayName"


def test_a_long_name_is_trimmed_by_default_and_refused_when_the_mapping_drops_it() -> None:
    long_name = person(displayName="N" * 120)
    assert refusals(long_name, DEFAULT) == []  # trimmed to 80: DingTalk accepts it
    dropping = parse_rules(FIELDS.replace("{from: [displayName]}", DROP_LONG_NAMES))
    (refusal,) = refusals(long_name, dropping)
    assert refusal.check == "name_missing"
    assert "longer than 80" in refusal.reason


def test_a_deactivated_user_is_never_refused() -> None:
    assert refusals(person(phoneNumbers=[], active=False), DEFAULT) == []


def test_a_user_outside_the_scope_is_not_refused() -> None:
    scoped = parse_rules(FIELDS + "policies:\n  scope:\n    filter: 'userType eq \"Employee\"'\n")
    assert refusals(person(phoneNumbers=[], userType="Contractor"), scoped) == []
    assert [r.check for r in refusals(person(phoneNumbers=[], userType="Employee"), scoped)] == [
        "mobile_missing"
    ]
