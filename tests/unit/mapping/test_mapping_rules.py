"""The mapping file: structure, line-numbered errors with fixes, the packaged default."""

from __future__ import annotations

import pathlib

import pytest

from scim_bridge.errors import ConfigError
from scim_bridge.mapping.rules import (
    check_rules_file,
    default_rules_path,
    load_rules,
    parse_rules,
    rules_path,
)
from scim_bridge.settings import Settings

MINIMAL = """\
version: 1
users:
  fields:
    name: displayName
    mobile: phoneNumbers.value
"""


def errors_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_rules(text, source="mapping.yaml")
    return str(info.value)


def test_default_rules_ship_inside_the_package_and_load() -> None:
    path = default_rules_path()
    assert path.name == "mapping.default.yaml"
    assert path.parent.name == "schemas"
    assert path.parent.parent.name == "scim_bridge"
    assert check_rules_file(path) == []
    rules = load_rules(path)
    assert set(rules.fields) >= {"name", "mobile", "email", "title", "job_number"}
    assert rules.leavers.action == "delete"
    assert rules.departments.strategy == "groups"


def test_top_level_schemas_symlink_reaches_the_same_default() -> None:
    top = pathlib.Path(__file__).parents[3] / "schemas" / "mapping.default.yaml"
    assert top.read_text(encoding="utf-8") == default_rules_path().read_text(encoding="utf-8")


def test_rules_path_prefers_the_setting_and_falls_back_to_the_default() -> None:
    assert rules_path(Settings()) == default_rules_path()
    assert rules_path(Settings(mapping_file="/etc/m.yaml")) == pathlib.Path("/etc/m.yaml")


def test_minimal_file_gets_documented_defaults() -> None:
    rules = parse_rules(MINIMAL)
    assert [p.text for p in rules.userid.paths] == ["externalId", "id"]
    assert rules.guard.max_removal_percent == 20
    assert rules.link.by == ()
    assert rules.phone.default_region == "CN"


def test_unknown_key_names_line_key_and_the_likely_fix() -> None:
    message = errors_of(MINIMAL + "    titel: title\n")
    assert message == 'mapping.yaml:6: users.fields.titel: unknown key; did you mean "title"?'


def test_unknown_key_without_a_close_match_lists_the_allowed_keys() -> None:
    message = errors_of(MINIMAL + "colour: blue\n")
    assert message.startswith("mapping.yaml:6: colour: unknown key; allowed keys are: ")
    assert "departments" in message


def test_bad_enum_value_suggests_the_closest_choice() -> None:
    message = errors_of(MINIMAL + "departments:\n  strategy: group\n")
    assert message == (
        "mapping.yaml:7: departments.strategy: 'group' is not allowed; did you mean \"groups\"?"
    )


def test_missing_required_key_and_wrong_type_are_both_reported() -> None:
    text = "version: 1\nusers:\n  fields:\n    name: displayName\nguard:\n  window_minutes: soon\n"
    lines = errors_of(text).splitlines()
    assert lines == [
        "mapping.yaml:3: users.fields: missing required key 'mobile'; add it",
        "mapping.yaml:6: guard.window_minutes: must be a whole number, not the text 'soon'",
    ]


def test_wrong_version_is_an_error() -> None:
    assert "mapping.yaml:1: version: must be 1" in errors_of(MINIMAL.replace("1", "2", 1))


def test_invalid_yaml_names_the_line() -> None:
    message = errors_of("version: 1\nusers: [\n")
    assert message.startswith("mapping.yaml:3: invalid YAML")


def test_duplicate_keys_are_errors_not_silently_overwritten() -> None:
    message = errors_of(MINIMAL + "    name: userName\n")
    assert "mapping.yaml:6: users.fields.name: duplicate key; keep only one" in message


def test_bad_path_filter_template_and_transform_each_name_their_key() -> None:
    text = """\
version: 1
users:
  fields:
    name:
      template: "{{ displayNme }}"
    mobile:
      from: 'phoneNumbers[type eq].value'
      transform: mobil
    title: {template: "{{ title "}
policies:
  scope:
    filter: 'active eq'
"""
    lines = errors_of(text).splitlines()
    assert lines[0].startswith(
        "mapping.yaml:5: users.fields.name.template: template uses unknown name 'displayNme'; "
        'did you mean "displayName"?'
    )
    assert lines[1].startswith(
        "mapping.yaml:7: users.fields.mobile.from: bad attribute path 'phoneNumbers[type eq].value'"
    )
    assert lines[2].startswith(
        "mapping.yaml:8: users.fields.mobile.transform: unknown transform 'mobil'; "
        'did you mean "mobile"?'
    )
    assert lines[3].startswith("mapping.yaml:9: users.fields.title.template: template syntax error")
    assert lines[4].startswith("mapping.yaml:12: policies.scope.filter: bad SCIM filter")
    assert len(lines) == 5


def test_rule_without_a_source_is_an_error() -> None:
    message = errors_of(MINIMAL + "    title: {transform: lower}\n")
    assert (
        message
        == "mapping.yaml:6: users.fields.title: a rule needs 'from', 'template' or 'constant'"
    )


def test_department_names_in_rules_must_be_valid_for_dingtalk() -> None:
    message = errors_of(MINIMAL + "policies:\n  leavers: {action: move, department: Ex-staff}\n")
    assert "policies.leavers.department: 'Ex-staff' is not a valid DingTalk department name" in (
        message
    )


def test_check_rules_file_returns_messages_and_load_rules_raises(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "m.yaml"
    bad.write_text(MINIMAL + "    titel: title\n", encoding="utf-8")
    assert check_rules_file(bad) == [
        'm.yaml:6: users.fields.titel: unknown key; did you mean "title"?'
    ]
    with pytest.raises(ConfigError, match=r"m\.yaml:6"):
        load_rules(bad)
    with pytest.raises(ConfigError, match="does not exist; fix SCIM_BRIDGE_MAPPING_FILE"):
        load_rules(tmp_path / "missing.yaml")


def test_fingerprint_changes_with_the_rules_only() -> None:
    a = parse_rules(MINIMAL)
    b = parse_rules(MINIMAL + "# a comment\n")
    c = parse_rules(MINIMAL + "    title: title\n")
    assert a.fingerprint == b.fingerprint != c.fingerprint
