"""PATCH (RFC 7644 §3.5.2): parsing, applying, and the members split — literal dicts in and out.

The request bodies are copied from scim-idp-notes.md (Okta §1.13-22, Entra §2.8-21) and from
the examples of RFC 7644 §3.5.2.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from scim_bridge.errors import (
    InvalidPath,
    InvalidSyntax,
    InvalidValue,
    Mutability,
    NoTarget,
    ScimError,
)
from scim_bridge.scim.filters import AttrRef, Compare, parse_path
from scim_bridge.scim.patch import (
    MemberChange,
    PatchOperation,
    apply_patch,
    parse_patch,
    split_member_operations,
)
from scim_bridge.scim.resources import Compat
from scim_bridge.scim.schema import (
    CORE_GROUP,
    CORE_USER,
    DINGTALK_USER,
    ENTERPRISE_USER,
    PATCH_OP,
    registry,
)

USER = registry().user
GROUP = registry().group
ENTRA = Compat(flat_enterprise=True, lenient_filters=True)
STRICT = Compat()


def body(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def patch_user(
    resource: dict[str, Any], *operations: dict[str, Any], compat: Compat = STRICT
) -> dict[str, Any]:
    return apply_patch(USER, resource, parse_patch(body(*operations)), compat=compat)


def patch_group(resource: dict[str, Any], *operations: dict[str, Any]) -> dict[str, Any]:
    return apply_patch(GROUP, resource, parse_patch(body(*operations)))


def alice(**extra: Any) -> dict[str, Any]:
    user: dict[str, Any] = {
        "schemas": [CORE_USER],
        "id": "2819c223",
        "userName": "alice@example.com",
        "name": {"givenName": "Alice", "familyName": "Smith"},
        "displayName": "Alice Smith",
        "active": True,
        "emails": [
            {"value": "alice@example.com", "type": "work", "primary": True},
            {"value": "alice@home.example", "type": "home"},
        ],
    }
    user.update(extra)
    return user


def assert_error(exc: pytest.ExceptionInfo[ScimError], status: int, scim_type: str) -> None:
    assert exc.value.status == status
    assert exc.value.scim_type == scim_type


# --- parse_patch -------------------------------------------------------------------------------


def test_parse_lowercases_capitalised_op_names():
    ops = parse_patch(
        body(
            {"op": "Add", "path": "nickName", "value": "Babs"},
            {"op": "Replace", "path": "active", "value": False},
            {"op": "Remove", "path": "title"},
        )
    )
    assert [o.op for o in ops] == ["add", "replace", "remove"]
    assert ops[0] == PatchOperation("add", parse_path("nickName"), "Babs")


def test_parse_ignores_top_level_id_and_unknown_operation_members():
    # Entra's Postman collection (scim-idp-notes §2.18).
    ops = parse_patch(
        {
            "schemas": [PATCH_OP],
            "id": "g1",
            "Operations": [
                {"name": "addMember", "op": "add", "path": "members", "value": "string id 1"}
            ],
        }
    )
    assert ops == [PatchOperation("add", parse_path("members"), "string id 1")]


def test_parse_matches_structural_names_case_insensitively():
    ops = parse_patch(
        {"Schemas": [PATCH_OP], "operations": [{"OP": "add", "Path": "title", "Value": "x"}]}
    )
    assert ops == [PatchOperation("add", parse_path("title"), "x")]


def test_parse_strict_requires_the_patchop_schema():
    with pytest.raises(InvalidSyntax) as exc:
        parse_patch({"Operations": [{"op": "add", "path": "title", "value": "x"}]}, lenient=False)
    assert_error(exc, 400, "invalidSyntax")


def test_parse_lenient_tolerates_missing_schemas():
    ops = parse_patch({"Operations": [{"op": "add", "path": "title", "value": "x"}]})
    assert len(ops) == 1


def test_parse_strict_accepts_the_patchop_schema():
    assert parse_patch(body({"op": "add", "path": "title", "value": "x"}), lenient=False)


@pytest.mark.parametrize(
    "payload",
    [
        {"schemas": [PATCH_OP]},
        {"schemas": [PATCH_OP], "Operations": []},
        {"schemas": [PATCH_OP], "Operations": "add"},
        {"schemas": [PATCH_OP], "Operations": ["add"]},
        [],
    ],
)
def test_parse_rejects_missing_or_empty_operations(payload: Any):
    with pytest.raises(InvalidSyntax) as exc:
        parse_patch(payload)
    assert_error(exc, 400, "invalidSyntax")


@pytest.mark.parametrize("op", [None, "move", "copy", 1])
def test_parse_rejects_unknown_op(op: Any):
    with pytest.raises(InvalidSyntax) as exc:
        parse_patch(body({"op": op, "path": "title", "value": "x"}))
    assert_error(exc, 400, "invalidSyntax")
    assert "Operations[0].op" in exc.value.detail


@pytest.mark.parametrize("op", ["add", "replace"])
def test_parse_rejects_add_or_replace_without_value(op: str):
    # RFC 7644 §3.5.2.1/§3.5.2.3 "MUST contain a value"; §3.12 invalidValue.
    with pytest.raises(InvalidValue) as exc:
        parse_patch(body({"op": op, "path": "title"}))
    assert_error(exc, 400, "invalidValue")


def test_parse_rejects_pathless_add_whose_value_is_not_an_object():
    with pytest.raises(InvalidValue) as exc:
        parse_patch(body({"op": "add", "value": "x"}))
    assert_error(exc, 400, "invalidValue")


def test_parse_remove_without_path_is_no_target():
    # RFC 7644 §3.5.2.2: "If 'path' is unspecified, the operation fails with ... noTarget".
    with pytest.raises(NoTarget) as exc:
        parse_patch(body({"op": "remove"}))
    assert_error(exc, 400, "noTarget")


@pytest.mark.parametrize("path", ["emails[type eq", "name..givenName", 'emails[type eq "w"]x', 7])
def test_parse_rejects_malformed_path(path: Any):
    with pytest.raises(InvalidPath) as exc:
        parse_patch(body({"op": "add", "path": path, "value": "x"}))
    assert_error(exc, 400, "invalidPath")


def test_parse_lenient_treats_empty_path_as_none():
    ops = parse_patch(body({"op": "replace", "path": "", "value": {"active": False}}))
    assert ops[0].path is None


def test_parse_keeps_remove_value_for_entra_member_removal():
    ops = parse_patch(
        body({"op": "Remove", "path": "members", "value": [{"$ref": None, "value": "f648"}]})
    )
    assert ops[0].value == [{"$ref": None, "value": "f648"}]


# --- Okta (scim-idp-notes §1) ------------------------------------------------------------------


def test_okta_deactivate_with_pathless_replace_sets_active_false():
    # §1.14
    out = patch_user(alice(), {"op": "replace", "value": {"active": False}})
    assert out["active"] is False
    assert out["userName"] == "alice@example.com"


def test_okta_reactivate_with_pathless_replace_sets_active_true():
    out = patch_user(alice(active=False), {"op": "replace", "value": {"active": True}})
    assert out["active"] is True


def test_okta_password_sync_keeps_password_in_the_result_for_the_service_to_hash():
    # §1.15
    out = patch_user(alice(), {"op": "replace", "value": {"password": "n3w-Secret"}})
    assert out["password"] == "n3w-Secret"


def test_okta_group_rename_with_same_readonly_id_succeeds():
    # §1.18: the value object carries the group's own id.
    group = {"id": "abf4dd94", "displayName": "Old"}
    out = patch_group(
        group, {"op": "replace", "value": {"id": "abf4dd94", "displayName": "Test SCIMv2"}}
    )
    assert out == {"schemas": [CORE_GROUP], "id": "abf4dd94", "displayName": "Test SCIMv2"}


def test_pathless_replace_with_a_different_id_is_mutability():
    with pytest.raises(Mutability) as exc:
        patch_group(
            {"id": "abf4dd94", "displayName": "G"}, {"op": "replace", "value": {"id": "other"}}
        )
    assert_error(exc, 400, "mutability")
    assert "id" in exc.value.detail


def test_okta_membership_delta_splits_into_remove_and_add():
    # §1.19
    ops = parse_patch(
        body(
            {"op": "remove", "path": 'members[value eq "89bb1940-b905-4575-9e7f-6f887cfb368e"]'},
            {
                "op": "add",
                "path": "members",
                "value": [
                    {
                        "value": "23a35c27-23d3-4c03-b4c5-6443c09e7173",
                        "display": "test.user@okta.local",
                    }
                ],
            },
        )
    )
    changes, rest = split_member_operations(ops)
    assert changes == [
        MemberChange("remove", ("89bb1940-b905-4575-9e7f-6f887cfb368e",)),
        MemberChange("add", ("23a35c27-23d3-4c03-b4c5-6443c09e7173",)),
    ]
    assert rest == []


def test_okta_full_membership_push_is_a_replace():
    # §1.20
    ops = parse_patch(
        body(
            {
                "op": "replace",
                "path": "members",
                "value": [
                    {"value": "23a35c27", "display": "test.user@okta.local"},
                    {"value": "89bb1940", "display": "other@okta.local"},
                ],
            }
        )
    )
    assert split_member_operations(ops) == ([MemberChange("replace", ("23a35c27", "89bb1940"))], [])


def test_okta_rename_plus_delta_keeps_rename_for_apply_patch():
    ops = parse_patch(
        body(
            {"op": "replace", "value": {"id": "abf4dd94", "displayName": "Test SCIMv2"}},
            {"op": "remove", "path": 'members[value eq "89bb"]'},
            {"op": "add", "path": "members", "value": [{"value": "23a3"}]},
        )
    )
    changes, rest = split_member_operations(ops)
    assert [c.kind for c in changes] == ["remove", "add"]
    assert rest == [ops[0]]
    assert apply_patch(GROUP, {"id": "abf4dd94", "displayName": "x"}, rest)["displayName"] == (
        "Test SCIMv2"
    )


# --- Entra (scim-idp-notes §2) -----------------------------------------------------------------


def test_entra_disable_with_string_false_sets_boolean_false():
    # §2.8 default form: capitalised op, string value.
    out = patch_user(alice(), {"op": "Replace", "path": "active", "value": "False"})
    assert out["active"] is False


def test_entra_disable_with_flag_form_sets_boolean_false():
    # §2.8 aadOptscim062020 and tutorial forms.
    out = apply_patch(
        USER,
        alice(),
        parse_patch(
            {
                "Operations": [{"op": "Replace", "path": "active", "value": False}],
                "schemas": [PATCH_OP],
            }
        ),
    )
    assert out["active"] is False


def test_entra_add_single_value_sets_nickname():
    # §2.10
    assert (
        patch_user(alice(), {"op": "Add", "path": "nickName", "value": "Babs"})["nickName"]
        == "Babs"
    )


def test_entra_replace_several_attributes_one_op_each():
    # §2.11 default form
    out = patch_user(
        alice(),
        {"op": "Replace", "path": "displayName", "value": "Bjfe"},
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "bjfe@example.com"},
        {"op": "Replace", "path": "name.givenName", "value": "Kkom"},
        {"op": "Replace", "path": "name.familyName", "value": "Unua"},
        {"op": "Replace", "path": "externalId", "value": "ext-1"},
        {
            "op": "Replace",
            "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
            "value": "Aklq",
        },
    )
    assert out["displayName"] == "Bjfe"
    assert out["emails"] == [
        {"value": "bjfe@example.com", "type": "work", "primary": True},
        {"value": "alice@home.example", "type": "home"},
    ]
    assert out["name"] == {"givenName": "Kkom", "familyName": "Unua"}
    assert out["externalId"] == "ext-1"
    assert out[ENTERPRISE_USER] == {"employeeNumber": "Aklq"}
    assert out["schemas"] == [CORE_USER, ENTERPRISE_USER]


def test_entra_pathless_replace_with_dotted_and_urn_keys_sets_nested_attributes():
    # §2.11 flag form; must not create literal "name.givenName" keys.
    out = patch_user(
        alice(),
        {
            "op": "replace",
            "value": {
                "displayName": "Bjfe",
                "name.givenName": "Kkom",
                "name.familyName": "Unua",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "Aklq",
            },
        },
    )
    assert out["displayName"] == "Bjfe"
    assert out["name"] == {"givenName": "Kkom", "familyName": "Unua"}
    assert out[ENTERPRISE_USER] == {"employeeNumber": "Aklq"}
    assert "name.givenName" not in out
    assert not any(k.startswith("urn:") and k.endswith("employeeNumber") for k in out)


def test_pathless_add_with_extension_urn_object_key_sets_extension_attributes():
    out = patch_user(
        alice(),
        {
            "op": "add",
            "value": {ENTERPRISE_USER: {"department": "R&D", "manager": {"value": "m1"}}},
        },
    )
    assert out[ENTERPRISE_USER] == {"department": "R&D", "manager": {"value": "m1"}}


def test_replace_work_email_value_creates_work_email_when_missing():
    # §2.12, validator "Patch User – Add Attributes", SCIM-SDK #416
    user = alice(emails=[{"value": "alice@home.example", "type": "home"}])
    out = patch_user(
        user,
        {
            "op": "Replace",
            "path": 'emails[type eq "work"].value',
            "value": "updatedEmail@microsoft.com",
        },
    )
    assert out["emails"] == [
        {"value": "alice@home.example", "type": "home"},
        {"type": "work", "value": "updatedEmail@microsoft.com"},
    ]


def test_replace_work_email_value_creates_email_when_user_has_none():
    user = alice()
    del user["emails"]
    out = patch_user(
        user, {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "w@example.com"}
    )
    assert out["emails"] == [{"type": "work", "value": "w@example.com"}]


def test_replace_work_email_value_keeps_other_emails():
    # SCIM-SDK #668: never drop the other elements.
    out = patch_user(
        alice(),
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "new@example.com"},
    )
    assert out["emails"][1] == {"value": "alice@home.example", "type": "home"}
    assert out["emails"][0]["value"] == "new@example.com"


def test_sequence_of_adds_to_work_address_ends_as_one_work_address():
    # §2.12, SCIM-SDK #680
    out = patch_user(
        alice(),
        {"op": "Add", "path": 'addresses[type eq "work"].formatted', "value": "1 Main St, Town"},
        {"op": "Add", "path": 'addresses[type eq "work"].locality', "value": "Town"},
        {"op": "Add", "path": 'addresses[type eq "work"].region', "value": "WA"},
    )
    assert out["addresses"] == [
        {"type": "work", "formatted": "1 Main St, Town", "locality": "Town", "region": "WA"}
    ]


def test_replace_filtered_sub_attribute_with_conjunction_creates_element_with_both_values():
    out = patch_user(
        alice(),
        {
            "op": "replace",
            "path": 'phoneNumbers[type eq "work" and primary eq true].value',
            "value": "+1 555 0100",
        },
    )
    assert out["phoneNumbers"] == [{"type": "work", "primary": True, "value": "+1 555 0100"}]


def test_replace_filtered_sub_attribute_with_non_eq_filter_matching_nothing_is_no_target():
    # RFC 7644 §3.5.2.3: no record match → 400 noTarget.
    with pytest.raises(NoTarget) as exc:
        patch_user(
            alice(), {"op": "replace", "path": 'emails[value co "nobody"].type', "value": "x"}
        )
    assert_error(exc, 400, "noTarget")


def test_entra_rename_username():
    # §2.13
    out = patch_user(
        alice(),
        {
            "op": "Replace",
            "path": "userName",
            "value": "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com",
        },
    )
    assert out["userName"] == "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"


def test_entra_add_manager_with_short_path_and_array_value_sets_enterprise_manager():
    # §2.14 tutorial
    out = patch_user(
        alice(),
        {
            "op": "Add",
            "path": "manager",
            "value": [
                {
                    "$ref": "http://example.com/scim/Users/00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
                    "value": "00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
                }
            ],
        },
    )
    assert out[ENTERPRISE_USER] == {
        "manager": {
            "$ref": "http://example.com/scim/Users/00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
            "value": "00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
        }
    }


def test_entra_add_manager_as_bare_string_becomes_value_object():
    # §2.14 real traffic, SCIM-SDK #541
    out = patch_user(
        alice(),
        {
            "op": "Add",
            "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
            "value": "271",
        },
    )
    assert out[ENTERPRISE_USER] == {"manager": {"value": "271"}}


def test_entra_remove_manager_drops_it_and_the_empty_extension():
    user = alice(**{ENTERPRISE_USER: {"manager": {"value": "271", "displayName": "Boss"}}})
    user["schemas"] = [CORE_USER, ENTERPRISE_USER]
    out = patch_user(
        user,
        {
            "op": "Remove",
            "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        },
    )
    assert ENTERPRISE_USER not in out
    assert out["schemas"] == [CORE_USER]


def test_changing_manager_value_drops_stale_readonly_display_name():
    user = alice(**{ENTERPRISE_USER: {"manager": {"value": "271", "displayName": "Boss"}}})
    out = patch_user(user, {"op": "replace", "path": "manager", "value": {"value": "300"}})
    assert out[ENTERPRISE_USER]["manager"] == {"value": "300"}


def test_entra_rename_group():
    # §2.17
    out = patch_group(
        {"id": "g1", "displayName": "displayName"},
        {
            "op": "Replace",
            "path": "displayName",
            "value": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName",
        },
    )
    assert out["displayName"] == "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"


def _split(*operations: dict[str, Any]) -> tuple[list[MemberChange], list[PatchOperation]]:
    return split_member_operations(parse_patch(body(*operations)))


def test_entra_add_members_with_null_ref():
    # §2.18
    changes, rest = _split(
        {"op": "Add", "path": "members", "value": [{"$ref": None, "value": "f648f8d5ea4e4cd38e9c"}]}
    )
    assert changes == [MemberChange("add", ("f648f8d5ea4e4cd38e9c",))]
    assert rest == []


def test_entra_add_member_as_bare_string_id():
    # §2.18 Postman
    changes, _ = split_member_operations(
        parse_patch(
            {
                "schemas": [PATCH_OP],
                "id": "g1",
                "Operations": [
                    {"name": "addMember", "op": "add", "path": "members", "value": "string id 1"}
                ],
            }
        )
    )
    assert changes == [MemberChange("add", ("string id 1",))]


def test_add_member_as_single_object():
    assert _split({"op": "add", "path": "members", "value": {"value": "u1"}})[0] == [
        MemberChange("add", ("u1",))
    ]


def test_add_several_members_in_one_operation_deduplicates_ids():
    changes, _ = _split(
        {"op": "add", "path": "members", "value": [{"value": "a"}, {"value": "b"}, {"value": "a"}]}
    )
    assert changes == [MemberChange("add", ("a", "b"))]


def test_entra_remove_members_with_value_list_removes_only_those():
    # §2.19 default form
    changes, _ = _split(
        {
            "op": "Remove",
            "path": "members",
            "value": [{"$ref": None, "value": "f648f8d5ea4e4cd38e9c"}],
        }
    )
    assert changes == [MemberChange("remove", ("f648f8d5ea4e4cd38e9c",))]


def test_entra_remove_member_by_value_filter():
    # §2.19 flag form
    changes, _ = _split(
        {"op": "remove", "path": 'members[value eq "7f4bc1a3-285e-48ae-8202-5accb43efb0e"]'}
    )
    assert changes == [MemberChange("remove", ("7f4bc1a3-285e-48ae-8202-5accb43efb0e",))]


def test_remove_members_by_or_of_value_tests_lists_ids():
    changes, _ = _split({"op": "remove", "path": 'members[value eq "a" or value eq "b"]'})
    assert changes == [MemberChange("remove", ("a", "b"))]


def test_entra_remove_all_members():
    # §2.20
    assert _split({"op": "remove", "path": "members"})[0] == [MemberChange("remove_all")]


def test_entra_replace_members_reports_replace():
    # §2.21: RFC semantics; additive handling is the service's profile switch.
    changes, _ = _split({"op": "replace", "path": "members", "value": [{"value": "f8e06934"}]})
    assert changes == [MemberChange("replace", ("f8e06934",))]


def test_replace_members_with_empty_list_clears_them():
    assert _split({"op": "replace", "path": "members", "value": []})[0] == [
        MemberChange("replace", ())
    ]


def test_remove_members_with_other_filter_is_remove_where():
    changes, _ = _split({"op": "remove", "path": 'members[type eq "Group"]'})
    assert changes == [MemberChange("remove_where", filter=Compare(AttrRef("type"), "eq", "Group"))]


def test_pathless_add_with_members_and_display_name_splits_both():
    changes, rest = _split(
        {"op": "add", "value": {"displayName": "G2", "members": [{"value": "u1"}, {"value": "u2"}]}}
    )
    assert changes == [MemberChange("add", ("u1", "u2"))]
    assert rest == [PatchOperation("add", None, {"displayName": "G2"})]


def test_pathless_replace_with_members_only_leaves_no_other_operation():
    changes, rest = _split({"op": "replace", "value": {"members": [{"value": "u1"}]}})
    assert changes == [MemberChange("replace", ("u1",))]
    assert rest == []


def test_urn_qualified_members_path_is_a_member_operation():
    changes, _ = _split({"op": "add", "path": f"{CORE_GROUP}:members", "value": [{"value": "u1"}]})
    assert changes == [MemberChange("add", ("u1",))]


def test_member_operations_keep_their_order():
    changes, _ = _split(
        {"op": "add", "path": "members", "value": [{"value": "a"}]},
        {"op": "remove", "path": "members"},
        {"op": "add", "path": "members", "value": [{"value": "b"}]},
    )
    assert [c.kind for c in changes] == ["add", "remove_all", "add"]


def test_member_display_sub_attribute_path_is_mutability():
    # RFC 7643 §4.2 members.display is readOnly; RFC 7644 §3.5.2 MUST NOT modify.
    with pytest.raises(Mutability) as exc:
        _split({"op": "replace", "path": 'members[value eq "x"].display', "value": "X"})
    assert_error(exc, 400, "mutability")


def test_add_to_filtered_members_path_is_invalid_path():
    with pytest.raises(InvalidPath):
        _split({"op": "add", "path": 'members[value eq "x"]', "value": {"value": "x"}})


def test_member_without_value_is_invalid_value():
    with pytest.raises(InvalidValue) as exc:
        _split({"op": "add", "path": "members", "value": [{"display": "no id"}]})
    assert_error(exc, 400, "invalidValue")


def test_non_member_operations_pass_through_untouched():
    changes, rest = _split({"op": "replace", "path": "displayName", "value": "x"})
    assert changes == []
    assert rest == [PatchOperation("replace", parse_path("displayName"), "x")]


# --- RFC 7644 §3.5.2 examples and semantics -----------------------------------------------------


def test_rfc_add_member_in_memory_appends_without_display():
    # RFC 7644 §3.5.2.1 example: add a member (display is readOnly and dropped).
    group = {"id": "g1", "displayName": "Tour Guides", "members": [{"value": "a"}]}
    out = patch_group(
        group,
        {
            "op": "add",
            "path": "members",
            "value": [
                {
                    "display": "Babs Jensen",
                    "$ref": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646",
                    "value": "2819c223-7f76-453a-919d-413861904646",
                }
            ],
        },
    )
    assert out["members"] == [
        {"value": "a"},
        {
            "$ref": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646",
            "value": "2819c223-7f76-453a-919d-413861904646",
        },
    ]


def test_rfc_pathless_add_emails_and_nickname():
    # RFC 7644 §3.5.2.1 example without path.
    out = patch_user(
        alice(),
        {
            "op": "add",
            "value": {"emails": [{"value": "babs@jensen.org", "type": "home"}], "nickname": "Babs"},
        },
    )
    assert out["nickName"] == "Babs"
    assert out["emails"][-1] == {"value": "babs@jensen.org", "type": "home"}
    assert len(out["emails"]) == 3


def test_add_identical_email_does_not_duplicate():
    out = patch_user(
        alice(),
        {"op": "add", "path": "emails", "value": [{"value": "alice@home.example", "type": "home"}]},
    )
    assert len(out["emails"]) == 2


def test_add_to_single_valued_attribute_replaces_it():
    out = patch_user(alice(), {"op": "add", "path": "displayName", "value": "Al"})
    assert out["displayName"] == "Al"


def test_add_to_complex_attribute_merges_sub_attributes():
    out = patch_user(alice(), {"op": "add", "path": "name", "value": {"middleName": "J"}})
    assert out["name"] == {"givenName": "Alice", "familyName": "Smith", "middleName": "J"}


def test_replace_complex_attribute_leaves_unmentioned_sub_attributes():
    # RFC 7644 §3.5.2.3: "Sub-attributes that are not specified ... are left unchanged."
    out = patch_user(alice(), {"op": "replace", "path": "name", "value": {"givenName": "Al"}})
    assert out["name"] == {"givenName": "Al", "familyName": "Smith"}


def test_replace_multi_valued_attribute_without_filter_replaces_the_list():
    # RFC 7644 §3.5.2.3 example: replace all members / emails.
    out = patch_user(
        alice(), {"op": "replace", "path": "emails", "value": [{"value": "only@example.com"}]}
    )
    assert out["emails"] == [{"value": "only@example.com"}]


def test_rfc_replace_members_in_memory_replaces_the_list():
    group = {"id": "g1", "displayName": "G", "members": [{"value": "a"}, {"value": "b"}]}
    out = patch_group(
        group,
        {"op": "replace", "path": "members", "value": [{"display": "J", "value": "c"}]},
    )
    assert out["members"] == [{"value": "c"}]


def test_rfc_replace_work_address_street_updates_only_that_address():
    # RFC 7644 §3.5.2.3 example: addresses[type eq "work"].streetAddress.
    user = alice(
        addresses=[
            {"type": "work", "streetAddress": "1 Old St", "locality": "Town"},
            {"type": "home", "streetAddress": "2 Home Rd"},
        ]
    )
    out = patch_user(
        user,
        {
            "op": "replace",
            "path": 'addresses[type eq "work"].streetAddress',
            "value": "1010 Broadway Ave",
        },
    )
    assert out["addresses"] == [
        {"type": "work", "streetAddress": "1010 Broadway Ave", "locality": "Town"},
        {"type": "home", "streetAddress": "2 Home Rd"},
    ]


def test_rfc_replace_filtered_record_replaces_whole_matching_element():
    user = alice(addresses=[{"type": "work", "streetAddress": "old", "locality": "T"}])
    out = patch_user(
        user,
        {
            "op": "replace",
            "path": 'addresses[type eq "work"]',
            "value": {"type": "work", "streetAddress": "911 Universal City Plaza"},
        },
    )
    assert out["addresses"] == [{"type": "work", "streetAddress": "911 Universal City Plaza"}]


def test_rfc_remove_single_member_in_memory_keeps_the_others():
    # RFC 7644 §3.5.2.2 example.
    group = {"id": "g1", "displayName": "G", "members": [{"value": "a"}, {"value": "b"}]}
    out = patch_group(group, {"op": "remove", "path": 'members[value eq "a"]'})
    assert out["members"] == [{"value": "b"}]


def test_rfc_remove_all_members_in_memory_unassigns_members():
    group = {"id": "g1", "displayName": "G", "members": [{"value": "a"}]}
    out = patch_group(group, {"op": "remove", "path": "members"})
    assert "members" not in out


def test_remove_with_value_list_in_memory_removes_only_listed_members():
    group = {"id": "g1", "displayName": "G", "members": [{"value": "a"}, {"value": "b"}]}
    out = patch_group(
        group, {"op": "remove", "path": "members", "value": [{"$ref": None, "value": "a"}]}
    )
    assert out["members"] == [{"value": "b"}]


def test_remove_filtered_emails_removes_matching_elements():
    out = patch_user(alice(), {"op": "remove", "path": 'emails[type eq "home"]'})
    assert out["emails"] == [{"value": "alice@example.com", "type": "work", "primary": True}]


def test_remove_filtered_sub_attribute_removes_only_that_sub_attribute():
    out = patch_user(alice(), {"op": "remove", "path": 'emails[type eq "work"].primary'})
    assert out["emails"][0] == {"value": "alice@example.com", "type": "work"}


def test_remove_last_filtered_element_unassigns_attribute():
    user = alice(emails=[{"value": "a@x", "type": "work"}])
    assert "emails" not in patch_user(user, {"op": "remove", "path": 'emails[type eq "work"]'})


def test_remove_with_filter_matching_nothing_is_no_target():
    # RFC 7644 §3.12 Table 9 noTarget: "the specified 'path' value contains a filter that
    # yields no match".
    with pytest.raises(NoTarget) as exc:
        patch_user(alice(), {"op": "remove", "path": 'emails[type eq "other"]'})
    assert_error(exc, 400, "noTarget")


def test_remove_attribute_without_value_succeeds():
    user = alice()
    out = patch_user(user, {"op": "remove", "path": "title"})
    assert "title" not in out
    assert out == {**user, "schemas": [CORE_USER]}


def test_remove_sub_attribute_keeps_the_rest():
    out = patch_user(alice(), {"op": "remove", "path": "name.givenName"})
    assert out["name"] == {"familyName": "Smith"}


def test_remove_last_sub_attribute_unassigns_complex_attribute():
    user = alice(name={"givenName": "A"})
    assert "name" not in patch_user(user, {"op": "remove", "path": "name.givenName"})


def test_remove_simple_attribute():
    assert "displayName" not in patch_user(alice(), {"op": "remove", "path": "displayName"})


def test_replace_with_null_unassigns_attribute():
    # RFC 7643 §2.5: null is equivalent to unassigned.
    assert "displayName" not in patch_user(
        alice(), {"op": "replace", "path": "displayName", "value": None}
    )


def test_add_null_changes_nothing():
    assert patch_user(alice(), {"op": "add", "path": "displayName", "value": None}) == alice()


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "remove", "path": "userName"},
        {"op": "replace", "path": "userName", "value": None},
        {"op": "replace", "value": {"userName": None}},
    ],
)
def test_removing_required_username_is_mutability(operation: dict[str, Any]):
    # RFC 7644 §3.5.2.2: unassigning a required attribute → 400 mutability.
    with pytest.raises(Mutability) as exc:
        patch_user(alice(), operation)
    assert_error(exc, 400, "mutability")
    assert "userName" in exc.value.detail


def test_removing_required_group_display_name_is_mutability():
    with pytest.raises(Mutability) as exc:
        patch_group({"id": "g", "displayName": "G"}, {"op": "remove", "path": "displayName"})
    assert_error(exc, 400, "mutability")


def test_replace_username_with_blank_is_invalid_value():
    with pytest.raises(InvalidValue):
        patch_user(alice(), {"op": "replace", "path": "userName", "value": "  "})


def test_setting_primary_on_one_email_clears_the_others():
    # RFC 7644 §3.5.2: primary true on one value sets false on the others.
    out = patch_user(
        alice(), {"op": "replace", "path": 'emails[type eq "home"].primary', "value": True}
    )
    assert [e.get("primary") for e in out["emails"]] == [False, True]


def test_adding_primary_email_clears_the_existing_primary():
    out = patch_user(
        alice(),
        {
            "op": "add",
            "path": "emails",
            "value": [{"value": "new@x", "type": "other", "primary": "True"}],
        },
    )
    assert [e.get("primary") for e in out["emails"]] == [False, None, True]


def test_attribute_names_in_paths_are_case_insensitive():
    out = patch_user(
        alice(),
        {"op": "replace", "path": "NAME.GIVENNAME", "value": "Al"},
        {"op": "replace", "path": 'EMAILS[TYPE eq "work"].VALUE', "value": "al@x"},
        {
            "op": "replace",
            "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:Department",
            "value": "D",
        },
    )
    assert out["name"]["givenName"] == "Al"
    assert out["emails"][0]["value"] == "al@x"
    assert out[ENTERPRISE_USER] == {"department": "D"}


def test_filter_values_compare_case_insensitively_for_non_case_exact_sub_attributes():
    out = patch_user(
        alice(), {"op": "replace", "path": 'emails[type eq "WORK"].value', "value": "x@x"}
    )
    assert out["emails"][0]["value"] == "x@x"
    assert len(out["emails"]) == 2


def test_core_urn_qualified_path_addresses_core_attribute():
    out = patch_user(
        alice(), {"op": "replace", "path": f"{CORE_USER}:name.givenName", "value": "Al"}
    )
    assert out["name"]["givenName"] == "Al"


def test_whole_extension_path_with_object_value_merges_extension():
    user = alice(**{ENTERPRISE_USER: {"department": "Old", "costCenter": "C1"}})
    out = patch_user(
        user,
        {"op": "replace", "path": ENTERPRISE_USER, "value": {"department": "New", "manager": "m1"}},
    )
    assert out[ENTERPRISE_USER] == {
        "department": "New",
        "costCenter": "C1",
        "manager": {"value": "m1"},
    }


def test_remove_whole_extension_keeps_server_managed_sync_state():
    user = alice(**{DINGTALK_USER: {"workPlace": "HQ", "sync": {"state": "synced"}}})
    out = patch_user(user, {"op": "remove", "path": DINGTALK_USER})
    assert out[DINGTALK_USER] == {"sync": {"state": "synced"}}


def test_values_are_coerced_to_the_target_type():
    out = patch_user(
        alice(),
        {
            "op": "replace",
            "path": "urn:ietf:params:scim:schemas:extension:dingtalk:2.0:User:hideMobile",
            "value": "true",
        },
        {"op": "add", "path": "emails", "value": {"value": "single@x", "primary": "false"}},
    )
    assert out[DINGTALK_USER] == {"hideMobile": True}
    assert out["emails"][-1] == {"value": "single@x", "primary": False}


def test_invalid_boolean_is_invalid_value_naming_the_attribute():
    with pytest.raises(InvalidValue) as exc:
        patch_user(alice(), {"op": "replace", "path": "active", "value": "maybe"})
    assert_error(exc, 400, "invalidValue")
    assert "active" in exc.value.detail
    assert "Operations[0]" in exc.value.detail


def test_invalid_datetime_is_invalid_value():
    with pytest.raises(InvalidValue) as exc:
        patch_user(
            alice(),
            {"op": "replace", "path": f"{DINGTALK_USER}:hiredDate", "value": "next tuesday"},
        )
    assert "hiredDate" in exc.value.detail


def test_unknown_attribute_in_path_is_invalid_path():
    with pytest.raises(InvalidPath) as exc:
        patch_user(alice(), {"op": "replace", "path": "favouriteColour", "value": "x"})
    assert_error(exc, 400, "invalidPath")


def test_unknown_sub_attribute_in_path_is_invalid_path():
    with pytest.raises(InvalidPath):
        patch_user(alice(), {"op": "replace", "path": "name.nickname", "value": "x"})


def test_unknown_extension_urn_in_path_is_invalid_path():
    with pytest.raises(InvalidPath):
        patch_user(
            alice(),
            {
                "op": "replace",
                "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0User:department",
                "value": "x",
            },
        )


def test_value_filter_on_single_valued_attribute_is_invalid_path():
    with pytest.raises(InvalidPath):
        patch_user(
            alice(), {"op": "replace", "path": 'name[givenName eq "A"].familyName', "value": "x"}
        )


def test_value_filter_naming_unknown_sub_attribute_is_invalid_path():
    with pytest.raises(InvalidPath):
        patch_user(alice(), {"op": "replace", "path": 'emails[kind eq "work"].value', "value": "x"})


def test_pathless_unknown_attributes_are_ignored():
    out = patch_user(alice(), {"op": "replace", "value": {"adreses": "x", "displayName": "D"}})
    assert out["displayName"] == "D"
    assert "adreses" not in out


def test_pathless_flat_enterprise_attribute_moves_into_extension_with_compat():
    out = patch_user(alice(), {"op": "replace", "value": {"department": "Sales"}}, compat=ENTRA)
    assert out[ENTERPRISE_USER] == {"department": "Sales"}


def test_pathless_flat_enterprise_attribute_is_ignored_without_compat():
    out = patch_user(alice(), {"op": "replace", "value": {"department": "Sales"}})
    assert ENTERPRISE_USER not in out


def test_modifying_readonly_meta_is_mutability():
    user = alice(meta={"resourceType": "User", "created": "2024-01-01T00:00:00Z"})
    with pytest.raises(Mutability):
        patch_user(user, {"op": "replace", "path": "meta.created", "value": "2025-01-01T00:00:00Z"})


def test_sending_readonly_meta_unchanged_is_ignored():
    user = alice(meta={"resourceType": "User", "created": "2024-01-01T00:00:00Z"})
    out = patch_user(
        user, {"op": "replace", "value": {"meta": {"resourceType": "User"}, "title": "T"}}
    )
    assert out["meta"] == user["meta"]
    assert out["title"] == "T"


def test_sending_empty_readonly_groups_is_ignored():
    out = patch_user(alice(), {"op": "replace", "value": {"groups": [], "title": "T"}})
    assert "groups" not in out


def test_removing_readonly_id_is_mutability():
    with pytest.raises(Mutability):
        patch_user(alice(), {"op": "remove", "path": "id"})


def test_changing_readonly_manager_display_name_is_mutability():
    user = alice(**{ENTERPRISE_USER: {"manager": {"value": "m", "displayName": "Boss"}}})
    with pytest.raises(Mutability):
        patch_user(user, {"op": "replace", "path": "manager.displayName", "value": "Other"})


def test_changing_readonly_dingtalk_sync_is_mutability():
    with pytest.raises(Mutability):
        patch_user(alice(), {"op": "add", "path": f"{DINGTALK_USER}:sync", "value": {"state": "x"}})


def test_failing_operation_applies_nothing_and_leaves_input_untouched():
    user = alice()
    before = copy.deepcopy(user)
    ops = parse_patch(
        body(
            {"op": "replace", "path": "displayName", "value": "Changed"},
            {"op": "remove", "path": "userName"},
        )
    )
    with pytest.raises(Mutability) as exc:
        apply_patch(USER, user, ops)
    assert "Operations[1]" in exc.value.detail
    assert user == before


def test_apply_patch_does_not_mutate_its_input_on_success():
    user = alice()
    before = copy.deepcopy(user)
    patch_user(user, {"op": "replace", "path": 'emails[type eq "work"].value', "value": "x@x"})
    assert user == before


def test_schemas_list_follows_the_extensions_present():
    out = patch_user(alice(), {"op": "add", "path": f"{DINGTALK_USER}:workPlace", "value": "HQ"})
    assert out["schemas"] == [CORE_USER, DINGTALK_USER]


def test_replace_emails_sub_attribute_without_filter_updates_every_element():
    out = patch_user(alice(), {"op": "replace", "path": "emails.type", "value": "other"})
    assert [e["type"] for e in out["emails"]] == ["other", "other"]


# --- less travelled paths ----------------------------------------------------------------------


def test_parse_lenient_accepts_schemas_as_string_and_a_single_operation_object():
    ops = parse_patch(
        {"schemas": PATCH_OP, "Operations": {"op": "add", "path": "title", "value": "x"}}
    )
    assert ops == [PatchOperation("add", parse_path("title"), "x")]


def test_parse_lenient_unwraps_pathless_value_given_as_one_element_list():
    ops = parse_patch(body({"op": "replace", "value": [{"active": False}]}))
    assert ops[0].value == {"active": False}


def test_replace_manager_value_through_sub_path_drops_stale_display_name():
    user = alice(**{ENTERPRISE_USER: {"manager": {"value": "271", "displayName": "Boss"}}})
    out = patch_user(
        user, {"op": "replace", "path": f"{ENTERPRISE_USER}:manager.value", "value": "300"}
    )
    assert out[ENTERPRISE_USER] == {"manager": {"value": "300"}}


def test_sending_same_manager_display_name_is_ignored():
    user = alice(**{ENTERPRISE_USER: {"manager": {"value": "271", "displayName": "Boss"}}})
    out = patch_user(user, {"op": "replace", "path": "manager.displayName", "value": "Boss"})
    assert out == {**user, "schemas": [CORE_USER, ENTERPRISE_USER]}


def test_in_memory_member_display_through_filter_is_mutability_unless_unchanged():
    group = {"id": "g", "displayName": "G", "members": [{"value": "a", "display": "A"}]}
    same = patch_group(
        group, {"op": "replace", "path": 'members[value eq "a"].display', "value": "A"}
    )
    assert same["members"] == [{"value": "a", "display": "A"}]
    with pytest.raises(Mutability):
        patch_group(group, {"op": "replace", "path": 'members[value eq "a"].display', "value": "B"})
    bare = {"id": "g", "displayName": "G", "members": [{"value": "a"}]}
    with pytest.raises(Mutability):
        patch_group(bare, {"op": "add", "path": 'members[value eq "a"].display', "value": "B"})


def test_add_through_filter_without_sub_attribute_merges_into_matching_element():
    out = patch_user(
        alice(), {"op": "add", "path": 'emails[type eq "home"]', "value": {"display": "Home"}}
    )
    assert out["emails"][1] == {"value": "alice@home.example", "type": "home", "display": "Home"}


def test_add_through_eq_filter_without_match_creates_element_from_filter_and_value():
    out = patch_user(
        alice(), {"op": "add", "path": 'phoneNumbers[type eq "mobile"]', "value": {"value": "+1"}}
    )
    assert out["phoneNumbers"] == [{"type": "mobile", "value": "+1"}]


def test_contradictory_eq_filter_without_match_is_no_target():
    with pytest.raises(NoTarget):
        patch_user(
            alice(),
            {"op": "replace", "path": 'emails[type eq "a" and type eq "b"].value', "value": "x"},
        )


def test_remove_with_value_list_matches_email_values_case_insensitively():
    out = patch_user(
        alice(), {"op": "remove", "path": "emails", "value": [{"value": "ALICE@HOME.EXAMPLE"}]}
    )
    assert [e["value"] for e in out["emails"]] == ["alice@example.com"]


def test_remove_with_value_list_naming_nothing_present_changes_nothing():
    user = alice()
    assert patch_user(user, {"op": "remove", "path": "emails", "value": [{"value": "zz"}]}) == user


def test_stored_extension_key_in_other_case_is_canonicalised():
    user = alice(**{ENTERPRISE_USER.lower(): {"department": "D"}})
    out = patch_user(user, {"op": "add", "path": f"{ENTERPRISE_USER}:costCenter", "value": "C"})
    assert out[ENTERPRISE_USER] == {"department": "D", "costCenter": "C"}
    assert ENTERPRISE_USER.lower() not in out


def test_pathless_value_ignores_schemas_and_multi_valued_dotted_keys():
    out = patch_user(
        alice(),
        {"op": "replace", "value": {"schemas": [CORE_USER], "emails.value": "x", "title": "T"}},
    )
    assert out["emails"] == alice()["emails"]
    assert out["title"] == "T"


def test_pathless_extension_object_that_is_not_an_object_is_invalid_value():
    with pytest.raises(InvalidValue):
        patch_user(alice(), {"op": "add", "value": {ENTERPRISE_USER: "x"}})


def test_whole_extension_path_with_non_object_value_is_invalid_value():
    with pytest.raises(InvalidValue):
        patch_user(alice(), {"op": "add", "path": ENTERPRISE_USER, "value": "x"})


def test_removing_the_core_schema_is_invalid_path():
    with pytest.raises(InvalidPath):
        patch_user(alice(), {"op": "remove", "path": CORE_USER})


def test_sub_attribute_of_simple_attribute_is_invalid_path():
    with pytest.raises(InvalidPath):
        patch_user(alice(), {"op": "replace", "path": "displayName.value", "value": "x"})


def test_hand_built_remove_without_path_is_no_target():
    with pytest.raises(NoTarget):
        apply_patch(USER, alice(), [PatchOperation("remove", None, None)])


def test_group_patch_on_user_only_attribute_is_invalid_path():
    with pytest.raises(InvalidPath):
        patch_group(
            {"id": "g", "displayName": "G"}, {"op": "add", "path": "userName", "value": "x"}
        )


def test_replace_members_through_filter_is_mutability():
    with pytest.raises(Mutability):
        _split({"op": "replace", "path": 'members[value eq "a"]', "value": {"value": "b"}})


def test_add_members_with_null_value_is_no_change():
    assert _split({"op": "add", "path": "members", "value": None}) == ([], [])
