"""SCIM filters and paths (RFC 7644 §3.4.2.2, §3.5.2): parsing and in-memory evaluation."""

from __future__ import annotations

from typing import Any

import pytest

from scim_bridge.errors import InvalidFilter, InvalidPath
from scim_bridge.scim.filters import (
    And,
    AttrRef,
    Compare,
    Not,
    Or,
    Path,
    ValuePath,
    matches,
    parse_datetime,
    parse_filter,
    parse_path,
    quote_bare_values,
)
from scim_bridge.scim.schema import ENTERPRISE_USER


def eq(attr: str, value: Any, sub: str | None = None) -> Compare:
    return Compare(AttrRef(attr, sub), "eq", value)


# --- precedence (RFC 7644 §3.4.2.2: and binds tighter than or) ---------------------------------


def test_and_binds_tighter_than_or_on_the_right():
    assert parse_filter("a eq 1 or b eq 2 and c eq 3") == Or(
        eq("a", 1), And(eq("b", 2), eq("c", 3))
    )


def test_and_binds_tighter_than_or_on_the_left():
    assert parse_filter("a eq 1 and b eq 2 or c eq 3") == Or(
        And(eq("a", 1), eq("b", 2)), eq("c", 3)
    )


def test_parentheses_override_precedence():
    assert parse_filter("(a eq 1 or b eq 2) and c eq 3") == And(
        Or(eq("a", 1), eq("b", 2)), eq("c", 3)
    )


def test_long_chain_groups_and_terms():
    assert parse_filter("a eq 1 or b eq 2 or c eq 3 and d eq 4") == Or(
        Or(eq("a", 1), eq("b", 2)), And(eq("c", 3), eq("d", 4))
    )


def test_not_applies_to_its_group_only():
    assert parse_filter("not (a eq 1) and b eq 2") == And(Not(eq("a", 1)), eq("b", 2))


# --- literals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("x eq 12.5e2", 1250.0),
        ("x eq -3", -3),
        ("x eq 42", 42),
        ("x gt 0.5", 0.5),
        ("x eq true", True),
        ("x eq False", False),
        ("x eq null", None),
    ],
)
def test_literals_keep_their_json_type(text: str, value: Any):
    node = parse_filter(text)
    assert isinstance(node, Compare)
    assert node.value == value
    assert type(node.value) is type(value)


def test_string_escapes_follow_json():
    assert parse_filter(r'userName eq "a\"b\\c"') == eq("userName", 'a"b\\c')
    assert parse_filter(r'userName eq "\u00e9"') == eq("userName", "é")


def test_operators_are_case_insensitive():
    assert parse_filter('userName EQ "x"') == eq("userName", "x")


def test_presence_has_no_value():
    assert parse_filter("title pr") == Compare(AttrRef("title"), "pr", None)


def test_urn_qualified_attribute_keeps_its_urn():
    node = parse_filter(f'{ENTERPRISE_USER}:manager.value eq "1"')
    assert node == Compare(AttrRef("manager", "value", ENTERPRISE_USER), "eq", "1")


# --- lenient quoting (Microsoft's unquoted values) -----------------------------------------------


def test_unquoted_value_is_an_error_when_strict():
    with pytest.raises(InvalidFilter) as exc:
        parse_filter("externalId eq jyoung")
    assert exc.value.status == 400
    assert exc.value.scim_type == "invalidFilter"


def test_unquoted_value_is_quoted_when_lenient():
    assert parse_filter("externalId eq jyoung", lenient=True) == eq("externalId", "jyoung")


def test_lenient_quoting_handles_microsoft_collection_filters():
    node = parse_filter(
        "name.FamilyName eq Employee and "
        "(emails.Value co example.com or emails.Value co example.org)",
        lenient=True,
    )
    assert node == And(
        eq("name", "Employee", "FamilyName"),
        Or(
            Compare(AttrRef("emails", "Value"), "co", "example.com"),
            Compare(AttrRef("emails", "Value"), "co", "example.org"),
        ),
    )


def test_lenient_quoting_keeps_unquoted_dates_as_strings():
    node = parse_filter("meta.Created gt 2015-10-10T14:38:21.8617979-07:00", lenient=True)
    assert node == Compare(AttrRef("meta", "Created"), "gt", "2015-10-10T14:38:21.8617979-07:00")


def test_lenient_quoting_leaves_quoted_strings_and_literals_alone():
    assert quote_bare_values('a eq "x y" and b eq true and c gt 5') == (
        'a eq "x y" and b eq true and c gt 5'
    )
    assert parse_filter('a eq "and or"', lenient=True) == eq("a", "and or")


@pytest.mark.parametrize("text", ['a eq "x" or', "a eq", 'a eq "x" b', 'a eq "open', "", "   "])
def test_malformed_filters_are_invalid_filter(text: str):
    with pytest.raises(InvalidFilter):
        parse_filter(text)


# --- value paths ------------------------------------------------------------------------------


def test_value_path_filter():
    assert parse_filter('emails[type eq "work" and value co "@x"]') == ValuePath(
        AttrRef("emails"),
        And(eq("type", "work"), Compare(AttrRef("value"), "co", "@x")),
    )


def test_microsoft_value_path_with_sub_attribute_comparison():
    # scim-idp-notes §2.2: emails[type eq "work"].value eq "user@contoso.com"
    assert parse_filter('emails[type eq "work"].value eq "user@contoso.com"') == ValuePath(
        AttrRef("emails"), And(eq("type", "work"), eq("value", "user@contoso.com"))
    )


# --- PATCH paths ------------------------------------------------------------------------------


def test_path_forms():
    assert parse_path("displayName") == Path("displayName")
    assert parse_path("name.givenName") == Path("name", "givenName")
    assert parse_path(ENTERPRISE_USER) == Path(None, urn=ENTERPRISE_USER)
    assert parse_path(f"{ENTERPRISE_USER}:manager.value") == Path(
        "manager", "value", ENTERPRISE_USER
    )
    assert parse_path('emails[type eq "work"].value') == Path(
        "emails", "value", filter=eq("type", "work")
    )
    assert parse_path('members[value eq "2819c223"]') == Path(
        "members", filter=eq("value", "2819c223")
    )


def test_path_filter_values_are_quoted_leniently():
    assert parse_path("emails[type eq work].value") == Path(
        "emails", "value", filter=eq("type", "work")
    )


def test_known_urn_keeps_canonical_spelling_in_paths():
    assert parse_path(f"{ENTERPRISE_USER.lower()}:department").urn == ENTERPRISE_USER


@pytest.mark.parametrize(
    "text", ["", "a.b.c", 'emails[type eq "w"', 'emails[type eq "w"].a.b', "1abc", "emails[]"]
)
def test_malformed_paths_are_invalid_path(text: str):
    with pytest.raises(InvalidPath) as exc:
        parse_path(text)
    assert exc.value.scim_type == "invalidPath"


# --- in-memory evaluation -------------------------------------------------------------------------


USER: dict[str, Any] = {
    "id": "AbC",
    "userName": "Alice@Example.com",
    "externalId": "Ext",
    "active": True,
    "title": "",
    "emails": [{"value": "A@x.com", "type": "work"}, {"value": "b@y.com", "type": "home"}],
    "meta": {
        "created": "2015-10-10T21:38:21Z",
        "lastModified": "2020-01-01T00:00:00.1234567+08:00",
    },
    "name": {"familyName": "Smith"},
    ENTERPRISE_USER: {"employeeNumber": "42", "manager": {"value": "m1"}},
    "loginCount": 5,
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # RFC 7643: userName caseExact false, id/externalId caseExact true.
        ('username eq "alice@example.com"', True),
        ('USERNAME eq "ALICE@EXAMPLE.COM"', True),
        ('id eq "abc"', False),
        ('id eq "AbC"', True),
        ('externalId eq "ext"', False),
        ('emails.value eq "a@x.com"', True),
        ('emails eq "b@y.com"', True),
        ('emails[type eq "work"].value eq "a@x.com"', True),
        ('emails[type eq "WORK" and value sw "a@"]', True),
        ('emails[type eq "home" and value sw "a@"]', False),
        ('emails[not (type eq "work")]', True),
        ('userName co "EXAMPLE"', True),
        ('userName ew ".COM"', True),
        ('userName sw "bob"', False),
        ("title pr", False),
        ("nickName pr", False),
        ("name.familyName pr", True),
        ('active eq "true"', True),
        ("active eq false", False),
        ("not (active eq false)", True),
        ("loginCount gt 4", True),
        ("loginCount ge 5.0", True),
        ("loginCount lt 5", False),
        (f'{ENTERPRISE_USER}:employeeNumber eq "42"', True),
        (f'{ENTERPRISE_USER}:manager.value eq "m1"', True),
        ('urn:ietf:params:scim:schemas:core:2.0:User:userName sw "al"', True),
        ('userName eq "nobody" or active eq true and id eq "AbC"', True),
        ('userName eq "nobody" or active eq true and id eq "x"', False),
    ],
)
def test_matches(text: str, expected: bool):
    assert matches(parse_filter(text, lenient=True), USER) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # 21:38:21Z is 14:38:21-07:00; the .86 s make the filter value later.
        ('meta.created gt "2015-10-10T14:38:21.8617979-07:00"', False),
        ('meta.created lt "2015-10-10T14:38:21.8617979-07:00"', True),
        ('meta.created eq "2015-10-10T14:38:21-07:00"', True),
        ("meta.lastModified lt 2020-01-01T00:00:00Z", True),
        ("meta.lastModified gt 2019-12-31T16:00:00Z", True),
    ],
)
def test_dates_compare_as_instants_not_strings(text: str, expected: bool):
    assert matches(parse_filter(text, lenient=True), USER) is expected


def test_case_exact_callback_overrides_defaults():
    node = parse_filter('userName eq "alice@example.com"')
    assert matches(node, USER, case_exact=lambda dotted: dotted == "username") is False


def test_parse_datetime_accepts_dotnet_precision_and_naive_as_utc():
    assert parse_datetime("2015-10-10T14:38:21.8617979-07:00") is not None
    naive = parse_datetime("2015-10-10T14:38:21")
    assert naive is not None
    assert naive.utcoffset() is not None
    assert parse_datetime("not a date") is None
    assert parse_datetime("2015-13-45T99:00:00Z") is None


@pytest.mark.parametrize("escaped", ["\\u0000", "a\\u0000", "\\ud800", "\\uDFFF", "\\uD83D x"])
def test_a_literal_whose_escapes_decode_to_unstorable_text_is_refused(escaped: str) -> None:
    """Issue 9: the raw text was checked before parsing; the decoded literal is checked too."""
    with pytest.raises(InvalidFilter, match="NUL or an unpaired surrogate"):
        parse_filter(f'userName eq "{escaped}"')
    with pytest.raises(InvalidPath, match="NUL or an unpaired surrogate"):
        parse_path(f'emails[value eq "{escaped}"].type')


def test_escapes_of_storable_text_still_decode() -> None:
    node = parse_filter('displayName eq "\\u00e9\\ud83d\\ude00\\"\\\\"')
    assert isinstance(node, Compare) and node.value == 'é😀"\\'
