"""Projection rules and policies: literal SCIM dicts in, literal DingTalk desired state out."""

from __future__ import annotations

from typing import Any

from scim_bridge.mapping import (
    InMemoryDirectory,
    changed_resources,
    load_rules,
    parse_rules,
    project_directory,
    project_user,
)
from scim_bridge.mapping.rules import MappingRules, default_rules_path

ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
DT = "urn:ietf:params:scim:schemas:extension:dingtalk:2.0:User"

BASE = """\
version: 1
users:
  manager: enterprise:manager.value
  fields:
    name: {from: [displayName, name.formatted]}
    mobile: {from: ['phoneNumbers[type eq "mobile"].value', phoneNumbers.value], transform: mobile}
    email: 'emails[primary eq true].value'
    title: title
"""
NO_DEPARTMENT = "in no department; placed in the root department"


def warnings(projection: Any) -> tuple[str, ...]:
    return tuple(w for w in projection.warnings if w != NO_DEPARTMENT)


def rules_with(extra: str = "") -> MappingRules:
    return parse_rules(BASE + extra)


def default_rules() -> MappingRules:
    return load_rules(default_rules_path())


def person(uid: str = "u1", **extra: Any) -> dict[str, Any]:
    user: dict[str, Any] = {
        "id": uid,
        "userName": f"{uid}@acme.cn",
        "displayName": f"Person {uid}",
        "active": True,
        "phoneNumbers": [{"value": "+86 139 1234 5678", "type": "mobile"}],
    }
    user.update(extra)
    return user


def one(user: dict[str, Any], rules: MappingRules, *groups: dict[str, Any], others=()) -> Any:
    directory = InMemoryDirectory([user, *others], groups)
    return project_user(user, rules, directory)


# --- the default mapping ---------------------------------------------------------------------


def test_default_mapping_projects_a_full_okta_user() -> None:
    user = {
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "userName": "ann.lee@acme.cn",
        "name": {"formatted": "Ann Lee", "givenName": "Ann", "familyName": "Lee"},
        "displayName": "Ann Lee (Sales)",
        "title": "Account Executive",
        "active": True,
        "emails": [
            {"value": "ann@home.cn", "type": "home", "primary": False},
            {"value": "ann.lee@acme.cn", "type": "work", "primary": True},
        ],
        "phoneNumbers": [
            {"value": "+86 21 1234 5678", "type": "work", "primary": True},
            {"value": "+86 139 1234 5678", "type": "mobile"},
        ],
        "groups": [{"value": "g-sales", "display": "Sales"}],
        ENT: {"employeeNumber": "E1001", "manager": {"value": "boss", "displayName": "Bo"}},
        DT: {"hideMobile": "True", "workPlace": "Hangzhou", "extension": {"爱好": "tea"}},
    }
    boss = person("boss")
    sales = {"id": "g-sales", "displayName": "Sales", "members": [{"value": user["id"]}]}
    projection = one(user, default_rules(), sales, others=[boss])
    assert projection.snapshot() == {
        "scim_id": "2819c223-7f76-453a-919d-413861904646",
        "action": "upsert",
        "userid": "00ujl29u0le5T6Aj10h7",
        "fields": {
            "email": "ann.lee@acme.cn",
            "extension": {"爱好": "tea"},
            "hide_mobile": True,
            "job_number": "E1001",
            "mobile": "13912345678",
            "name": "Ann Lee (Sales)",
            "title": "Account Executive",
            "work_place": "Hangzhou",
        },
        "department_keys": ["group:g-sales"],
        "manager_scim_id": "boss",
        "role_keys": [],
        "link_by": [
            ["mobile", "13912345678"],
            ["email", "ann.lee@acme.cn"],
            ["job_number", "E1001"],
        ],
    }
    assert projection.warnings == ()


def test_default_userid_falls_back_to_the_scim_id_sanitised() -> None:
    projection = one(person("Entra user/7"), default_rules())
    assert projection.userid == "Entra_user_7_d2ce7939"  # sanitised, so hash-suffixed


def test_default_name_falls_back_to_formatted_then_given_and_family() -> None:
    rules = default_rules()
    formatted = person(name={"formatted": "Li Lei"})
    del formatted["displayName"]
    parts = person(name={"givenName": "Han", "familyName": "Meimei"})
    del parts["displayName"]
    given_only = person(name={"givenName": "Han"})
    del given_only["displayName"]
    assert one(formatted, rules).fields["name"] == "Li Lei"
    assert one(parts, rules).fields["name"] == "Han Meimei"
    assert one(given_only, rules).fields["name"] == "Han"


def test_default_mobile_prefers_type_mobile_then_primary_then_first() -> None:
    rules = default_rules()
    primary = person(
        phoneNumbers=[
            {"value": "+852 5123 4567", "type": "work"},
            {"value": "+86 138 0000 0000", "type": "home", "primary": True},
        ]
    )
    first = person(phoneNumbers=[{"value": "+852 5123 4567"}, {"value": "13800000000"}])
    assert one(primary, rules).fields["mobile"] == "13800000000"
    assert one(first, rules).fields["mobile"] == "+852-51234567"


def test_default_places_users_without_a_group_in_the_root_department() -> None:
    projection = one(person(), default_rules())
    assert projection.department_keys == ("root",)
    assert projection.warnings == ("in no department; placed in the root department",)


def test_default_deletes_leavers() -> None:
    projection = one(person(active=False), default_rules())
    assert projection.action == "remove"
    assert projection.fields == {}
    assert projection.reason == "deactivated in the IdP (active=false); leaver policy: delete"


# --- attribute rules -------------------------------------------------------------------------


def test_over_long_values_are_trimmed_with_a_warning_or_dropped() -> None:
    projection = one(
        person(title="T" * 250, emails=[{"value": "x" * 60 + "@a.cn", "primary": True}]),
        rules_with(),
    )
    assert projection.fields["title"] == "T" * 200
    assert "email" not in projection.fields
    assert warnings(projection) == (
        "email longer than 50 chars; left unset",
        "title trimmed to 200 chars",
    )


def test_invalid_mobile_is_left_unset_with_a_warning() -> None:
    projection = one(person(phoneNumbers=[{"value": "12345", "type": "mobile"}]), rules_with())
    assert "mobile" not in projection.fields
    assert warnings(projection) == ("mobile: '12345' is not a valid mobile number; left unset",)


def test_constants_templates_and_fallbacks() -> None:
    rules = rules_with(
        """\
    remark: {constant: "provisioned by scim-bridge"}
    work_place: {from: dingtalk:workPlace, constant: Head office}
    job_number: {template: "{{ enterprise.costCenter }}-{{ enterprise.employeeNumber }}"}
  userid: {template: "{{ userName.split('@')[0] | lower | userid }}"}
"""
    )
    user = person(
        userName="Ann.Lee+x@acme.cn", **{ENT: {"employeeNumber": "7", "costCenter": "CC1"}}
    )
    projection = one(user, rules)
    assert projection.userid == "ann.lee_x_c58c1d80"  # "+" replaced, so hash-suffixed
    assert projection.fields["remark"] == "provisioned by scim-bridge"
    assert projection.fields["work_place"] == "Head office"
    assert projection.fields["job_number"] == "CC1-7"
    # A template whose attribute is absent has no value (StrictUndefined), so nothing is set.
    assert "job_number" not in one(person(), rules).fields


def test_templates_can_use_any_path_through_attr() -> None:
    rules = rules_with(
        '    telephone: {template: "{{ attr(\'phoneNumbers[type eq \\"work\\"].value\') }}"}\n'
    )
    user = person(
        phoneNumbers=[{"value": "13912345678", "type": "mobile"}, {"value": "8021", "type": "work"}]
    )
    assert one(user, rules).fields["telephone"] == "8021"


def test_templates_run_sandboxed() -> None:
    rules = rules_with('    remark: {template: "{{ user.__class__.__mro__ }}"}\n')
    assert "remark" not in one(person(), rules).fields


def test_extension_fields_from_any_attribute() -> None:
    rules = rules_with(
        """\
  extension:
    cost_center: enterprise:costCenter
    division: {from: enterprise:division, transform: upper}
"""
    )
    user = person(**{ENT: {"costCenter": "CC9", "division": "retail"}})
    assert one(user, rules).fields["extension"] == {"cost_center": "CC9", "division": "RETAIL"}


def test_boolean_and_date_fields_are_typed() -> None:
    rules = rules_with("    hide_mobile: dingtalk:hideMobile\n    hired_date: dingtalk:hiredDate\n")
    user = person(**{DT: {"hideMobile": "false", "hiredDate": "2024-03-01"}})
    fields = one(user, rules).fields
    assert fields["hide_mobile"] is False
    assert fields["hired_date"] == 1709251200000


# --- departments -----------------------------------------------------------------------------


def groups_of(*pairs: tuple[str, str], members: dict[str, list[str]] | None = None) -> list[dict]:
    members = members or {}
    return [
        {"id": gid, "displayName": name, "members": [{"value": m} for m in members.get(gid, [])]}
        for gid, name in pairs
    ]


def test_groups_flat_are_departments_under_the_root() -> None:
    groups = groups_of(("g1", "Sales-EMEA"), ("g2", "Empty"), members={"g1": ["u1"]})
    projection = project_directory([person()], groups, rules_with())
    assert {k: (d.name, d.parent_key) for k, d in projection.departments.items()} == {
        "group:g1": ("Sales EMEA", None),
        "group:g2": ("Empty", None),
    }
    assert projection.users["u1"].department_keys == ("group:g1",)
    assert projection.departments["group:g1"].source_identifier == "group:g1"


def test_groups_nested_by_separator_create_missing_levels() -> None:
    rules = rules_with("departments:\n  groups: {nesting: separator, separator: /}\n")
    groups = groups_of(("g1", "Acme/Sales/EMEA"), ("g2", "Acme/Sales"), members={"g1": ["u1"]})
    projection = project_directory([person()], groups, rules)
    assert [(k, d.name, d.parent_key) for k, d in projection.departments.items()] == [
        ("path:Acme", "Acme", None),
        ("group:g2", "Sales", "path:Acme"),
        ("group:g1", "EMEA", "group:g2"),
    ]


def test_groups_nested_by_members_follow_rfc_nested_groups() -> None:
    rules = rules_with("departments:\n  groups: {nesting: members}\n")
    groups = [
        {"id": "g1", "displayName": "Acme", "members": [{"value": "g2", "type": "Group"}]},
        {"id": "g2", "displayName": "Sales", "members": [{"value": "u1", "type": "User"}]},
    ]
    projection = project_directory([person()], groups, rules)
    assert projection.departments["group:g2"].parent_key == "group:g1"
    assert projection.users["u1"].department_keys == ("group:g2",)


def test_groups_nested_by_an_attribute_naming_the_parent() -> None:
    rules = rules_with(
        "departments:\n  groups: {nesting: attribute, parent_attribute: externalId}\n"
    )
    groups = [
        {"id": "g1", "displayName": "Acme", "members": []},
        {"id": "g2", "displayName": "Sales", "externalId": "Acme", "members": []},
    ]
    projection = project_directory([], groups, rules)
    assert projection.departments["group:g2"].parent_key == "group:g1"


def test_group_filter_chooses_which_groups_become_departments() -> None:
    rules = rules_with("departments:\n  groups: {filter: 'displayName sw \"Dept \"'}\n")
    groups = groups_of(
        ("g1", "Dept Sales"), ("g2", "VPN users"), members={"g1": ["u1"], "g2": ["u1"]}
    )
    projection = project_directory([person()], groups, rules)
    assert list(projection.departments) == ["group:g1"]
    assert projection.users["u1"].department_keys == ("group:g1",)


def test_enterprise_attributes_build_a_department_path_on_demand() -> None:
    rules = rules_with("departments:\n  strategy: attributes\n")
    user = person(**{ENT: {"organization": "Acme", "division": "Sales", "department": "EMEA"}})
    other = person("u2", **{ENT: {"organization": "Acme", "department": "Legal"}})
    projection = project_directory([user, other], [], rules)
    assert {k: (d.name, d.parent_key) for k, d in projection.departments.items()} == {
        "path:Acme": ("Acme", None),
        "path:Acme/Sales": ("Sales", "path:Acme"),
        "path:Acme/Sales/EMEA": ("EMEA", "path:Acme/Sales"),
        "path:Acme/Legal": ("Legal", "path:Acme"),
    }
    assert projection.users["u1"].department_keys == ("path:Acme/Sales/EMEA",)


def test_a_named_default_department_takes_users_with_none() -> None:
    projection = project_directory(
        [person()], [], rules_with("departments:\n  default: Unassigned\n")
    )
    assert projection.users["u1"].department_keys == ("default",)
    assert projection.departments["default"].name == "Unassigned"


def test_groups_become_roles() -> None:
    rules = rules_with(
        "roles: {enabled: true, filter: 'displayName sw \"Role \"', group_name: Apps}\n"
        "departments: {strategy: none}\n"
    )
    groups = groups_of(("g1", "Role Admin"), ("g2", "Sales"), members={"g1": ["u1"], "g2": ["u1"]})
    projection = project_directory([person()], groups, rules)
    assert {k: (r.name, r.group_name) for k, r in projection.roles.items()} == {
        "group:g1": ("Role Admin", "Apps")
    }
    assert projection.users["u1"].role_keys == ("group:g1",)
    assert projection.users["u1"].department_keys == ("root",)
    assert projection.departments == {}


# --- policies --------------------------------------------------------------------------------


def test_leavers_can_move_to_a_department_or_be_kept() -> None:
    moved = one(
        person(active=False),
        rules_with("policies: {leavers: {action: move, department: Alumni}}\n"),
    )
    assert (moved.action, moved.department_keys) == ("upsert", ("leavers",))
    kept = one(person(active=False), rules_with("policies: {leavers: {action: keep}}\n"))
    assert (kept.action, kept.reason) == (
        "skip",
        "deactivated in the IdP (active=false); leaver policy: keep",
    )
    projection = project_directory(
        [person(active=False)],
        [],
        rules_with("policies: {leavers: {action: move, department: Alumni}}\n"),
    )
    assert projection.departments["leavers"].name == "Alumni"


def test_scope_filter_skips_or_removes_people_outside_it() -> None:
    skip = rules_with("policies: {scope: {filter: 'userType eq \"Employee\"'}}\n")
    remove = rules_with("policies: {scope: {filter: 'userType eq \"Employee\"', action: remove}}\n")
    assert one(person(userType="Employee"), skip).action == "upsert"
    out = one(person(userType="Vendor"), skip)
    assert (out.action, out.reason) == ("skip", 'outside the scope filter (userType eq "Employee")')
    assert one(person(userType="Vendor"), remove).action == "remove"


def test_partners_get_their_own_tree_and_a_hidden_mobile() -> None:
    rules = rules_with(
        "policies:\n  partners: {enabled: true, user_types: [Contractor], "
        "filter: 'emails.value ew \"@globex.com\"', department: External}\n"
    )
    groups = groups_of(("g1", "Sales"), members={"g1": ["u1", "u2", "u3"]})
    contractor = person("u1", userType="contractor")
    by_filter = person("u2", emails=[{"value": "a@globex.com", "primary": True}])
    employee = person("u3", userType="Employee")
    projection = project_directory([contractor, by_filter, employee], groups, rules)
    assert projection.users["u1"].department_keys == ("partners>group:g1",)
    assert projection.users["u1"].fields["hide_mobile"] is True
    assert projection.users["u2"].department_keys == ("partners>group:g1",)
    assert projection.users["u3"].department_keys == ("group:g1",)
    assert "hide_mobile" not in projection.users["u3"].fields
    assert {k: (d.name, d.parent_key) for k, d in projection.departments.items()} == {
        "group:g1": ("Sales", None),
        "partners": ("External", None),
        "partners>group:g1": ("Sales", "partners"),
    }


def test_partners_flat_structure_puts_them_all_in_one_department() -> None:
    rules = rules_with(
        "policies:\n  partners: {enabled: true, user_types: [Partner], structure: flat}\n"
    )
    groups = groups_of(("g1", "Sales"), members={"g1": ["u1"]})
    projection = project_directory([person(userType="Partner")], groups, rules)
    assert projection.users["u1"].department_keys == ("partners",)


SUBS = "policies:\n  subsidiaries: {{enabled: true, primary: [Acme], label: {label}}}\n"


def test_subsidiaries_labelled_by_a_department_prefix() -> None:
    groups = groups_of(("g1", "Sales"), members={"g1": ["u1", "u2"]})
    asia = person("u1", **{ENT: {"organization": "Acme Asia"}})
    parent = person("u2", **{ENT: {"organization": "acme"}})
    projection = project_directory([asia, parent], groups, rules_with(SUBS.format(label="prefix")))
    assert projection.users["u1"].department_keys == ("sub:Acme Asia>group:g1",)
    assert projection.users["u2"].department_keys == ("group:g1",)
    assert projection.departments["sub:Acme Asia"].name == "Acme Asia"
    assert projection.departments["sub:Acme Asia>group:g1"].parent_key == "sub:Acme Asia"


def test_subsidiaries_labelled_by_a_role_or_a_custom_field() -> None:
    asia = person(**{ENT: {"organization": "Acme Asia"}})
    by_role = project_directory([asia], [], rules_with(SUBS.format(label="role")))
    assert by_role.users["u1"].role_keys == ("sub:Acme Asia",)
    assert by_role.roles["sub:Acme Asia"].group_name == "Subsidiaries"
    by_field = one(asia, rules_with(SUBS.format(label="field")))
    assert by_field.fields["extension"] == {"company": "Acme Asia"}


def test_managers_out_of_scope_are_dropped_with_a_warning() -> None:
    rules = rules_with()
    ghost = one(person(**{ENT: {"manager": {"value": "nobody"}}}), rules)
    assert ghost.manager_scim_id is None
    assert warnings(ghost) == ("manager nobody is not in the directory",)
    left = person("boss", active=False)
    gone = one(person(**{ENT: {"manager": {"value": "boss"}}}), rules, others=[left])
    assert warnings(gone) == ("manager boss is not projected to DingTalk",)


def test_link_keys_come_from_the_projected_values() -> None:
    rules = rules_with("policies: {link: {by: [email, mobile]}}\n")
    user = person(emails=[{"value": "a@acme.cn", "primary": True}])
    assert one(user, rules).link_by == (("email", "a@acme.cn"), ("mobile", "13912345678"))


# --- re-projection ---------------------------------------------------------------------------


def test_changing_the_mapping_reprojects_exactly_what_changed() -> None:
    users = [person("u1", title="ceo"), person("u2"), person("u3", active=False)]
    groups = groups_of(("g1", "Sales"), members={"g1": ["u2"]})
    before = project_directory(users, groups, rules_with())
    after = project_directory(
        users,
        groups,
        parse_rules(BASE.replace("title: title", "title: {from: title, transform: upper}")),
    )
    changes = changed_resources(before, after)
    assert changes.users == {"u1"}
    assert not changes.departments and not changes.roles
    same = changed_resources(before, project_directory(users, groups, rules_with()))
    assert not same
