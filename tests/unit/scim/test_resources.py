"""Resources as dicts: normalise client bodies, PUT replace semantics, attribute projection.

Bodies are copied from scim-idp-notes.md (Okta §1.3/§1.13/§1.17, Entra §2.4-7/§2.15).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from scim_bridge.errors import InvalidSyntax, InvalidValue, Mutability
from scim_bridge.scim.resources import Compat, normalize, project, replace, require, wanted
from scim_bridge.scim.schema import (
    CORE_GROUP,
    CORE_USER,
    DINGTALK_USER,
    ENTERPRISE_USER,
    Attribute,
    registry,
)

USER = registry().user
GROUP = registry().group
ENTRA = Compat(flat_enterprise=True, lenient_filters=True)


# --- normalize: Okta -----------------------------------------------------------------------------


def test_normalize_okta_create_user_keeps_password_and_drops_readonly_groups():
    # scim-idp-notes §1.3
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "test.user@okta.local",
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "1mz050nq",
        "active": True,
    }
    assert normalize(USER, body) == {
        "schemas": [CORE_USER],
        "userName": "test.user@okta.local",
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "password": "1mz050nq",
        "active": True,
    }


def test_normalize_okta_put_body_drops_id_meta_groups_and_keeps_email_display():
    # §1.13: the whole object comes back, read-only parts included.
    body = {
        "schemas": [CORE_USER],
        "id": "23a35c27-23d3-4c03-b4c5-6443c09e7173",
        "userName": "test.user@okta.local",
        "name": {"givenName": "Another", "familyName": "User"},
        "emails": [
            {"primary": True, "value": "test.user@okta.local", "type": "work", "display": "w"}
        ],
        "active": False,
        "groups": [],
        "meta": {"resourceType": "User"},
    }
    assert normalize(USER, body) == {
        "schemas": [CORE_USER],
        "userName": "test.user@okta.local",
        "name": {"givenName": "Another", "familyName": "User"},
        "emails": [
            {"primary": True, "value": "test.user@okta.local", "type": "work", "display": "w"}
        ],
        "active": False,
    }


def test_normalize_okta_group_create_with_empty_members():
    # §1.17
    body = {"schemas": [CORE_GROUP], "displayName": "Test SCIMv2", "members": []}
    assert normalize(GROUP, body) == {"schemas": [CORE_GROUP], "displayName": "Test SCIMv2"}


# --- normalize: Entra ---------------------------------------------------------------------------


def test_normalize_entra_create_user_with_enterprise_schema():
    # §2.4 first example
    body = {
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        ],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
        "active": True,
        "emails": [{"primary": True, "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}],
        "meta": {"resourceType": "User"},
        "name": {
            "formatted": "givenName familyName",
            "familyName": "familyName",
            "givenName": "givenName",
        },
        "roles": [],
    }
    assert normalize(USER, body) == {
        "schemas": [CORE_USER],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
        "active": True,
        "emails": [{"primary": True, "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}],
        "name": {
            "formatted": "givenName familyName",
            "familyName": "familyName",
            "givenName": "givenName",
        },
    }


def _entra_second_example() -> dict[str, Any]:
    # §2.4 second example: misspelled URN, nulls, flat enterprise attributes.
    return {
        "UserName": "UserName123",
        "Active": True,
        "DisplayName": "BobIsAmazing",
        "schemas": [
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0User",
            "urn:ietf:params:scim:schemas:core:2.0:User",
        ],
        "externalId": "${Instance}",
        "name": {"formatted": "Ryan Leenay", "familyName": "Leenay", "givenName": "Ryan"},
        "emails": [
            {"Primary": True, "type": "work", "value": "testing@bob.com"},
            {"Primary": False, "type": "home", "value": "testinghome@bob.com"},
        ],
        "addresses": None,
        "phoneNumbers": None,
        "preferredLanguage": None,
        "title": None,
        "department": None,
        "manager": None,
    }


def test_normalize_entra_misspelled_urn_nulls_and_capitalised_names():
    assert normalize(USER, _entra_second_example()) == {
        "schemas": [CORE_USER],
        "userName": "UserName123",
        "active": True,
        "displayName": "BobIsAmazing",
        "externalId": "${Instance}",
        "name": {"formatted": "Ryan Leenay", "familyName": "Leenay", "givenName": "Ryan"},
        "emails": [
            {"primary": True, "type": "work", "value": "testing@bob.com"},
            {"primary": False, "type": "home", "value": "testinghome@bob.com"},
        ],
    }


def test_normalize_entra_flat_enterprise_attributes_move_into_extension_with_compat():
    body = {**_entra_second_example(), "department": "Sales", "employeeNumber": "42"}
    body["Manager"] = {"Value": "SuzzyQ"}
    out = normalize(USER, body, compat=ENTRA)
    assert out[ENTERPRISE_USER] == {
        "department": "Sales",
        "employeeNumber": "42",
        "manager": {"value": "SuzzyQ"},
    }
    assert out["schemas"] == [CORE_USER, ENTERPRISE_USER]


def test_normalize_flat_enterprise_attributes_are_dropped_without_compat():
    out = normalize(USER, {"userName": "u", "department": "Sales"})
    assert out == {"schemas": [CORE_USER], "userName": "u"}


def test_normalize_nested_enterprise_value_wins_over_flat_one():
    body = {"userName": "u", "department": "Flat", ENTERPRISE_USER: {"department": "Nested"}}
    assert normalize(USER, body, compat=ENTRA)[ENTERPRISE_USER] == {"department": "Nested"}


def test_normalize_entra_postman_capitalised_enterprise_attributes():
    # §2.5
    body = {
        "UserName": "UserName222",
        "Active": True,
        "DisplayName": "lennay",
        "schemas": [CORE_USER, ENTERPRISE_USER],
        "emails": [{"Primary": True, "type": "work", "value": "testing@bob2.com"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "Department": "bob",
            "Manager": {"Value": "SuzzyQ"},
        },
    }
    assert normalize(USER, body) == {
        "schemas": [CORE_USER, ENTERPRISE_USER],
        "userName": "UserName222",
        "active": True,
        "displayName": "lennay",
        "emails": [{"primary": True, "type": "work", "value": "testing@bob2.com"}],
        ENTERPRISE_USER: {"department": "bob", "manager": {"value": "SuzzyQ"}},
    }


def test_normalize_matches_extension_urn_key_case_insensitively():
    body = {"userName": "u", ENTERPRISE_USER.upper(): {"costCenter": "C"}}
    assert normalize(USER, body)[ENTERPRISE_USER] == {"costCenter": "C"}


def test_normalize_entra_string_true_becomes_boolean():
    # §2.6
    out = normalize(
        USER,
        {"userName": "emp1", "active": "True", "emails": [{"value": "e@x", "primary": "True"}]},
    )
    assert out["active"] is True
    assert out["emails"] == [{"value": "e@x", "primary": True}]


@pytest.mark.parametrize(
    ("text", "expected"), [("true", True), ("FALSE", False), (" False ", False)]
)
def test_normalize_string_booleans_any_case(text: str, expected: bool):
    assert normalize(USER, {"userName": "u", "active": text})["active"] is expected


def test_normalize_entra_misspelled_attribute_is_ignored():
    # §2.7: "adreses" must not appear anywhere.
    out = normalize(USER, {"userName": "u", "adreses": [{"type": "work", "formatted": "x"}]})
    assert out == {"schemas": [CORE_USER], "userName": "u"}


def test_normalize_entra_group_with_non_standard_schema():
    # §2.15
    body = {
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:Group",
            "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group",
        ],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": "displayName",
        "meta": {"resourceType": "Group"},
    }
    assert normalize(GROUP, body) == {
        "schemas": [CORE_GROUP],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": "displayName",
    }


# --- normalize: coercion and shape rules --------------------------------------------------------


def test_normalize_members_drop_null_ref_and_readonly_display():
    body = {
        "displayName": "G",
        "members": [
            {"$ref": None, "value": "f648", "display": "Someone"},
            {"value": "a1", "type": "User"},
        ],
    }
    assert normalize(GROUP, body)["members"] == [{"value": "f648"}, {"value": "a1", "type": "User"}]


def test_normalize_wraps_single_object_for_multi_valued_attribute():
    out = normalize(USER, {"userName": "u", "emails": {"value": "a@x", "type": "work"}})
    assert out["emails"] == [{"value": "a@x", "type": "work"}]


def test_normalize_drops_empty_lists_objects_and_null_elements():
    out = normalize(
        USER,
        {"userName": "u", "name": {}, "roles": [], "emails": [None, {}, {"value": None}]},
    )
    assert out == {"schemas": [CORE_USER], "userName": "u"}


def test_normalize_keeps_only_the_first_primary():
    # RFC 7643 §2.4: primary true at most once.
    out = normalize(
        USER,
        {
            "userName": "u",
            "emails": [
                {"value": "a@x", "primary": True},
                {"value": "b@x", "primary": "true"},
                {"value": "c@x"},
            ],
        },
    )
    assert [e.get("primary") for e in out["emails"]] == [True, False, None]


def test_normalize_drops_readonly_manager_display_name_and_dingtalk_sync():
    body = {
        "userName": "u",
        ENTERPRISE_USER: {"manager": {"value": "m", "displayName": "Boss", "$ref": None}},
        DINGTALK_USER: {"sync": {"state": "synced"}, "workPlace": "HQ"},
    }
    out = normalize(USER, body)
    assert out[ENTERPRISE_USER] == {"manager": {"value": "m"}}
    assert out[DINGTALK_USER] == {"workPlace": "HQ"}


def test_normalize_manager_one_element_list_becomes_object():
    body = {"userName": "u", ENTERPRISE_USER: {"manager": [{"value": "m1", "$ref": "../Users/m1"}]}}
    assert normalize(USER, body)[ENTERPRISE_USER] == {
        "manager": {"value": "m1", "$ref": "../Users/m1"}
    }


def test_normalize_manager_bare_string_becomes_value_object():
    out = normalize(USER, {"userName": "u", ENTERPRISE_USER: {"manager": "271"}})
    assert out[ENTERPRISE_USER] == {"manager": {"value": "271"}}


def test_normalize_several_values_for_single_valued_attribute_is_invalid_value():
    with pytest.raises(InvalidValue) as exc:
        normalize(USER, {"userName": "u", "displayName": ["a", "b"]})
    assert exc.value.scim_type == "invalidValue"
    assert "displayName" in exc.value.detail


def test_normalize_number_for_string_keeps_its_text():
    out = normalize(USER, {"userName": "u", ENTERPRISE_USER: {"employeeNumber": 271}})
    assert out[ENTERPRISE_USER] == {"employeeNumber": "271"}


def test_normalize_object_for_string_is_invalid_value():
    with pytest.raises(InvalidValue) as exc:
        normalize(USER, {"userName": {"value": "u"}})
    assert "userName" in exc.value.detail


def test_normalize_invalid_boolean_is_invalid_value_naming_attribute():
    with pytest.raises(InvalidValue) as exc:
        normalize(USER, {"userName": "u", "emails": [{"value": "a", "primary": "yes"}]})
    assert exc.value.status == 400
    assert "emails.primary" in exc.value.detail


def test_normalize_valid_datetime_is_kept_as_sent():
    body = {"userName": "u", DINGTALK_USER: {"hiredDate": "2015-10-10T14:38:21.8617979-07:00"}}
    assert normalize(USER, body)[DINGTALK_USER] == {
        "hiredDate": "2015-10-10T14:38:21.8617979-07:00"
    }


def test_normalize_invalid_datetime_is_invalid_value_naming_attribute():
    with pytest.raises(InvalidValue) as exc:
        normalize(USER, {"userName": "u", DINGTALK_USER: {"hiredDate": "yesterday"}})
    assert "hiredDate" in exc.value.detail


def test_normalize_urn_qualified_attribute_keys_nest_under_the_extension():
    body = {"userName": "u", f"{ENTERPRISE_USER}:employeeNumber": "7", f"{CORE_USER}:title": "T"}
    out = normalize(USER, body)
    assert out[ENTERPRISE_USER] == {"employeeNumber": "7"}
    assert out["title"] == "T"


def test_normalize_dotted_keys_set_sub_attributes():
    out = normalize(USER, {"userName": "u", "name.givenName": "A", "name": {"familyName": "B"}})
    assert out["name"] == {"givenName": "A", "familyName": "B"}


def test_normalize_extension_that_is_not_an_object_is_invalid_value():
    with pytest.raises(InvalidValue):
        normalize(USER, {"userName": "u", ENTERPRISE_USER: "x"})


def test_normalize_body_that_is_not_an_object_is_invalid_syntax():
    with pytest.raises(InvalidSyntax) as exc:
        normalize(USER, ["userName"])  # type: ignore[arg-type]
    assert exc.value.scim_type == "invalidSyntax"


def test_normalize_does_not_mutate_the_body():
    body = _entra_second_example()
    before = copy.deepcopy(body)
    normalize(USER, body, compat=ENTRA)
    assert body == before


def test_normalize_integer_and_decimal_coercion_via_schema_types():
    from scim_bridge.scim.resources import coerce

    assert coerce(Attribute("n", "integer"), "42", where="n") == 42
    assert coerce(Attribute("n", "integer"), 3.0, where="n") == 3
    assert coerce(Attribute("d", "decimal"), "1.5", where="d") == 1.5
    assert coerce(Attribute("d", "decimal"), 2, where="d") == 2.0
    for attr, bad in [
        ("integer", "4.5x"),
        ("integer", True),
        ("decimal", "nan"),
        ("decimal", False),
    ]:
        with pytest.raises(InvalidValue):
            coerce(Attribute("x", attr), bad, where="x")


# --- require -----------------------------------------------------------------------------------


def test_require_username_for_user():
    with pytest.raises(InvalidValue) as exc:
        require(USER, normalize(USER, {"name": {"givenName": "A"}}))
    assert exc.value.status == 400
    assert exc.value.scim_type == "invalidValue"
    assert "userName" in exc.value.detail


def test_require_display_name_for_group():
    with pytest.raises(InvalidValue) as exc:
        require(GROUP, normalize(GROUP, {"members": []}))
    assert "displayName" in exc.value.detail


def test_require_rejects_blank_username():
    with pytest.raises(InvalidValue):
        require(USER, {"userName": "  "})


def test_require_accepts_complete_resources():
    require(USER, {"userName": "u"})
    require(GROUP, {"displayName": "G"})


# --- replace (PUT, RFC 7644 §3.5.1) ------------------------------------------------------------


def _stored_user() -> dict[str, Any]:
    return {
        "schemas": [CORE_USER, ENTERPRISE_USER, DINGTALK_USER],
        "id": "u1",
        "meta": {"resourceType": "User", "created": "2024-01-01T00:00:00Z"},
        "userName": "test.user@okta.local",
        "nickName": "Tess",
        "active": True,
        "password": "hashed-elsewhere",
        ENTERPRISE_USER: {"manager": {"value": "m1", "displayName": "Boss"}, "department": "D"},
        DINGTALK_USER: {"sync": {"state": "synced", "dingtalkId": "dt1"}, "workPlace": "HQ"},
    }


def test_replace_clears_attributes_not_sent():
    incoming = normalize(USER, {"userName": "test.user@okta.local", "active": False})
    out = replace(USER, _stored_user(), incoming)
    assert "nickName" not in out
    assert out["active"] is False
    assert "department" not in out.get(ENTERPRISE_USER, {})


def test_replace_keeps_readonly_id_meta_and_sync():
    incoming = normalize(USER, {"id": "other", "userName": "x", "meta": {"resourceType": "X"}})
    out = replace(USER, _stored_user(), incoming)
    assert out["id"] == "u1"
    assert out["meta"] == {"resourceType": "User", "created": "2024-01-01T00:00:00Z"}
    assert out[DINGTALK_USER] == {"sync": {"state": "synced", "dingtalkId": "dt1"}}
    assert out["schemas"] == [CORE_USER, DINGTALK_USER]


def test_replace_keeps_stored_password_when_none_is_sent():
    out = replace(USER, _stored_user(), normalize(USER, {"userName": "x"}))
    assert out["password"] == "hashed-elsewhere"


def test_replace_takes_a_new_password():
    out = replace(USER, _stored_user(), normalize(USER, {"userName": "x", "password": "n3w"}))
    assert out["password"] == "n3w"


def test_replace_okta_aiw_deactivation_put():
    # §1.13: AIW apps deactivate with a PUT carrying "active": false.
    body = {**_stored_user(), "active": False, "groups": []}
    out = replace(USER, _stored_user(), normalize(USER, body))
    assert out["active"] is False
    assert out["nickName"] == "Tess"
    assert out[ENTERPRISE_USER] == {
        "manager": {"value": "m1", "displayName": "Boss"},
        "department": "D",
    }


def test_replace_keeps_manager_display_name_only_for_the_same_manager():
    same = replace(
        USER,
        _stored_user(),
        normalize(USER, {"userName": "x", ENTERPRISE_USER: {"manager": {"value": "m1"}}}),
    )
    assert same[ENTERPRISE_USER]["manager"] == {"value": "m1", "displayName": "Boss"}
    other = replace(
        USER,
        _stored_user(),
        normalize(USER, {"userName": "x", ENTERPRISE_USER: {"manager": {"value": "m2"}}}),
    )
    assert other[ENTERPRISE_USER]["manager"] == {"value": "m2"}


def test_replace_group_aiw_full_member_list_keeps_member_display():
    # §1.22: AIW PUT /Groups with the full list.
    current = {"id": "g1", "displayName": "Old", "members": [{"value": "a", "display": "A"}]}
    incoming = normalize(GROUP, {"displayName": "New", "members": [{"value": "a"}, {"value": "b"}]})
    out = replace(GROUP, current, incoming)
    assert out == {
        "schemas": [CORE_GROUP],
        "id": "g1",
        "displayName": "New",
        "members": [{"value": "a", "display": "A"}, {"value": "b"}],
    }


def test_replace_does_not_mutate_inputs():
    current, incoming = _stored_user(), normalize(USER, {"userName": "x"})
    before = (copy.deepcopy(current), copy.deepcopy(incoming))
    replace(USER, current, incoming)
    assert (current, incoming) == before


def test_replace_changing_an_immutable_value_is_mutability():
    # RFC 7644 §3.5.1 immutable: "the input value(s) MUST match" or 400 mutability.
    immutable = Attribute("badge", "string", mutability="immutable")
    from dataclasses import replace as dc_replace

    core = dc_replace(USER.core, attributes={**USER.core.attributes, "badge": immutable})
    rt = dc_replace(USER, core=core)
    with pytest.raises(Mutability) as exc:
        replace(rt, {"userName": "u", "badge": "1"}, {"userName": "u", "badge": "2"})
    assert exc.value.scim_type == "mutability"
    assert "badge" in exc.value.detail
    assert replace(rt, {"userName": "u", "badge": "1"}, {"userName": "u"})["badge"] == "1"
    assert replace(rt, {"userName": "u"}, {"userName": "u", "badge": "2"})["badge"] == "2"


# --- project (RFC 7644 §3.4.2.5, RFC 7643 §7 returned) ------------------------------------------


def _full_user() -> dict[str, Any]:
    return {
        "schemas": [CORE_USER, ENTERPRISE_USER],
        "id": "u1",
        "externalId": "e1",
        "meta": {"resourceType": "User", "version": 'W/"1"'},
        "userName": "alice",
        "password": "secret",
        "name": {"givenName": "Alice", "familyName": "Smith"},
        "emails": [{"value": "a@x", "type": "work", "primary": True}],
        "active": True,
        ENTERPRISE_USER: {"employeeNumber": "7", "manager": {"value": "m", "displayName": "Boss"}},
    }


def test_project_default_returns_everything_but_password():
    out = project(USER, _full_user())
    expected = _full_user()
    del expected["password"]
    assert out == expected


def test_project_attributes_selects_named_plus_always_returned():
    out = project(USER, _full_user(), attributes=["userName"])
    assert out == {"schemas": [CORE_USER], "id": "u1", "userName": "alice"}


def test_project_attributes_any_case_and_dotted():
    out = project(USER, _full_user(), attributes=["NAME.GIVENNAME", "emails.value"])
    assert out == {
        "schemas": [CORE_USER],
        "id": "u1",
        "name": {"givenName": "Alice"},
        "emails": [{"value": "a@x"}],
    }


def test_project_attributes_urn_qualified_extension_attribute():
    out = project(USER, _full_user(), attributes=[f"{ENTERPRISE_USER}:employeeNumber"])
    assert out == {
        "schemas": [CORE_USER, ENTERPRISE_USER],
        "id": "u1",
        ENTERPRISE_USER: {"employeeNumber": "7"},
    }


def test_project_attributes_whole_extension_urn():
    out = project(USER, _full_user(), attributes=[ENTERPRISE_USER])
    assert out[ENTERPRISE_USER] == _full_user()[ENTERPRISE_USER]
    assert set(out) == {"schemas", "id", ENTERPRISE_USER}


def test_project_attributes_comma_separated_string_entry():
    out = project(USER, _full_user(), attributes=["userName,active"])
    assert set(out) == {"schemas", "id", "userName", "active"}


def test_project_entra_value_filter_in_attributes_selects_the_attribute():
    # scim-idp-notes §2.25: attributes=emails[type eq "work"]
    out = project(USER, _full_user(), attributes=['emails[type eq "work"]'])
    assert out["emails"] == _full_user()["emails"]


def test_project_attributes_never_returns_password():
    assert "password" not in project(USER, _full_user(), attributes=["password"])


def test_project_excluded_removes_attributes_and_sub_attributes():
    out = project(USER, _full_user(), excluded=["emails", "name.familyName", "meta"])
    assert "emails" not in out
    assert "meta" not in out
    assert out["name"] == {"givenName": "Alice"}
    assert out["userName"] == "alice"


def test_project_excluded_cannot_remove_always_returned_id():
    assert project(USER, _full_user(), excluded=["id"])["id"] == "u1"


def test_project_excluded_whole_extension():
    out = project(USER, _full_user(), excluded=[ENTERPRISE_USER])
    assert ENTERPRISE_USER not in out
    assert out["schemas"] == [CORE_USER]


def test_project_excluded_extension_sub_attribute():
    out = project(USER, _full_user(), excluded=[f"{ENTERPRISE_USER}:manager.displayName"])
    assert out[ENTERPRISE_USER] == {"employeeNumber": "7", "manager": {"value": "m"}}


def test_project_group_without_members_for_entra():
    # scim-idp-notes §2.16: GET /Groups/{id}?excludedAttributes=members
    group = {"schemas": [CORE_GROUP], "id": "g1", "displayName": "G", "members": [{"value": "a"}]}
    assert project(GROUP, group, excluded=["members"]) == {
        "schemas": [CORE_GROUP],
        "id": "g1",
        "displayName": "G",
    }


def test_project_entra_manager_check_returns_only_id():
    # scim-idp-notes §2.14: requested attribute id.
    assert project(USER, _full_user(), attributes=["id"]) == {"schemas": [CORE_USER], "id": "u1"}


def test_project_unknown_names_select_nothing():
    assert project(USER, _full_user(), attributes=["nope"]) == {"schemas": [CORE_USER], "id": "u1"}


def test_project_drops_unknown_stored_keys():
    assert "junk" not in project(USER, {**_full_user(), "junk": 1})


def test_project_does_not_mutate_the_resource():
    resource = _full_user()
    out = project(USER, resource, attributes=["name"])
    out["name"]["givenName"] = "changed"
    assert resource == _full_user()


# --- wanted ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attributes", "excluded", "name", "expected"),
    [
        (None, None, "members", True),
        (None, ["members"], "members", False),
        (None, ["MEMBERS"], "members", False),
        (["displayName"], None, "members", False),
        (["members.value"], None, "members", True),
        (["members"], None, "members.value", True),
        (None, ["members.display"], "members.display", False),
        (None, ["members"], "id", True),
        (["displayName"], None, "meta", False),
        (None, None, "meta", True),
        (None, None, "nope", False),
    ],
)
def test_wanted_tells_the_db_layer_what_to_load(
    attributes: list[str] | None, excluded: list[str] | None, name: str, expected: bool
):
    assert wanted(GROUP, attributes, excluded, name) is expected


def test_wanted_user_groups_and_password():
    assert wanted(USER, None, None, "groups") is True
    assert wanted(USER, None, ["groups"], "groups") is False
    assert wanted(USER, None, None, "password") is False
    assert wanted(USER, [f"{ENTERPRISE_USER}:manager"], None, ENTERPRISE_USER) is True
    assert wanted(USER, ["userName"], None, ENTERPRISE_USER) is False


def test_project_accepts_the_raw_query_string_value():
    out = project(USER, _full_user(), attributes="userName,active", excluded=None)
    assert set(out) == {"schemas", "id", "userName", "active"}
    assert wanted(GROUP, None, "members", "members") is False
