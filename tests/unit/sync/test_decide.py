"""The decision engine's rules: literal data in, literal operations out (no database, no client)."""

from __future__ import annotations

import pytest

from scim_bridge.mapping.attributes import userid_choices
from scim_bridge.mapping.model import DepartmentSpec, RoleSpec
from scim_bridge.sync.decide import (
    FieldChange,
    Kind,
    Operation,
    PersonChoice,
    Target,
    choose_person,
    create_user,
    delete_departments,
    ensure_department,
    ensure_role,
    field_changes,
    manager_change,
    pending_manager,
    remove_user,
    set_roles,
    update_user,
)

# --- fields and their empty-value rules ------------------------------------------------------


def test_a_changed_field_is_sent_with_its_new_value() -> None:
    assert field_changes({"title": "Engineer"}, {"title": "CTO"}) == (
        FieldChange("title", "Engineer", "CTO"),
    )


def test_clearing_a_scalar_field_sends_an_empty_string() -> None:
    # DingTalk ignores an omitted key: only "" clears it.
    assert field_changes({"title": "CTO"}, {"title": None}) == (FieldChange("title", "CTO", ""),)


def test_a_managed_field_absent_from_the_mapping_output_is_cleared() -> None:
    assert field_changes({"email": "a@acme.cn"}, {}, managed={"email"}) == (
        FieldChange("email", "a@acme.cn", ""),
    )


@pytest.mark.parametrize(
    ("held", "wanted"),
    [
        ({"mobile": "13900000001", "title": "CTO"}, {"title": "CEO"}),
        ({"mobile": "13900000001", "title": "CTO"}, {"mobile": None, "title": "CEO"}),
        ({"name": "Ann", "title": "CTO"}, {"name": "", "title": "CEO"}),
    ],
)
def test_a_required_field_the_mapping_no_longer_yields_keeps_its_held_value(
    held: dict[str, str], wanted: dict[str, str | None]
) -> None:
    # DingTalk refuses a member without a mobile or a name (60103): clearing one would take
    # the person's title change down with it.
    changes = field_changes(held, wanted, managed={"mobile", "name", "title"})
    assert changes == (FieldChange("title", "CTO", "CEO"),)


def test_a_required_field_that_changes_is_still_sent() -> None:
    changes = field_changes({"mobile": "13900000001"}, {"mobile": "13900000002"})
    assert changes == (FieldChange("mobile", "13900000001", "13900000002"),)


def test_an_unmanaged_field_dingtalk_holds_is_left_alone() -> None:
    assert field_changes({"email": "a@acme.cn", "title": "CTO"}, {"title": "CTO"}) == ()


def test_clearing_a_map_field_sends_it_empty_not_as_a_string() -> None:
    assert field_changes({"extension": {"k": "v"}}, {"extension": None}) == (
        FieldChange("extension", {"k": "v"}, {}),
    )


def test_empty_on_both_sides_is_no_change() -> None:
    assert field_changes({"title": ""}, {"title": None}, managed={"email", "title"}) == ()


def test_a_live_read_that_omits_false_flags_and_encodes_extension_as_text_is_no_change() -> None:
    held = {"hide_mobile": None, "extension": '{"k": "v"}', "hired_date": "1700000000000"}
    wanted = {"hide_mobile": False, "extension": {"k": "v"}, "hired_date": 1700000000000}
    assert field_changes(held, wanted) == ()


def test_manager_dept_list_and_our_own_keys_are_not_plain_fields() -> None:
    held = {"manager_userid": "a", "dept_id_list": [1], "_roles": [5]}
    assert field_changes(held, {"manager_userid": "b", "dept_id_list": [2], "_roles": []}) == ()


# --- manager --------------------------------------------------------------------------------


def test_a_new_manager_is_set() -> None:
    assert manager_change("a", "b") == FieldChange("manager_userid", "a", "b")


def test_a_removed_manager_is_cleared_with_clear_manager_not_an_empty_string() -> None:
    change = manager_change("a", None)
    assert change == FieldChange("manager_userid", "a", None)
    op = Operation(Kind.UPDATE, Target.USER, "u1", "u1", "Ann", (change,))
    assert op.clear_manager


def test_no_manager_on_either_side_is_no_change() -> None:
    assert manager_change("", None) is None


def test_a_manager_not_yet_in_dingtalk_is_pending() -> None:
    assert pending_manager("m1", None) == "manager m1 is set once they reach DingTalk"
    assert pending_manager("m1", "boss") == ""
    assert pending_manager(None, None) == ""


# --- creating, updating, moving, removing a person ------------------------------------------


def test_a_new_person_is_created_with_non_empty_fields_departments_and_manager() -> None:
    op = create_user(
        "u1",
        "jdoe",
        {"name": "Ann", "mobile": "13900000001", "title": None, "email": ""},
        dept_ids=[7, 3, 7],
        manager_userid="boss",
    )
    assert op == Operation(
        Kind.CREATE,
        Target.USER,
        "u1",
        "jdoe",
        "Ann",
        (
            FieldChange("mobile", None, "13900000001"),
            FieldChange("name", None, "Ann"),
            FieldChange("dept_id_list", None, ["3", "7"]),
            FieldChange("manager_userid", None, "boss"),
        ),
    )


def test_a_person_is_created_without_a_manager_who_is_not_in_dingtalk_yet() -> None:
    op = create_user("u1", "u1", {"name": "Ann"}, dept_ids=[1], manager_userid=None)
    assert "manager_userid" not in op.values


def test_an_existing_person_gets_one_update_for_fields_and_manager_and_one_move() -> None:
    held = {"name": "Ann", "title": "Eng", "manager_userid": "old", "dept_id_list": [1]}
    ops = update_user(
        "u1", "u1", held, {"name": "Ann", "title": "CTO"}, dept_ids=[7], manager_userid="new"
    )
    assert ops == [
        Operation(
            Kind.UPDATE,
            Target.USER,
            "u1",
            "u1",
            "Ann",
            (FieldChange("title", "Eng", "CTO"), FieldChange("manager_userid", "old", "new")),
        ),
        Operation(
            Kind.MOVE, Target.USER, "u1", "u1", "Ann", (FieldChange("dept_id_list", ["1"], ["7"]),)
        ),
    ]


def test_a_person_already_matching_needs_no_operation() -> None:
    held = {"name": "Ann", "dept_id_list": [3, 7], "manager_userid": "boss"}
    assert (
        update_user("u1", "u1", held, {"name": "Ann"}, dept_ids=["7", "3"], manager_userid="boss")
        == []
    )


def test_a_leaver_is_deleted_with_the_reason() -> None:
    assert remove_user("u1", "jdoe", "Ann", reason="deactivated in the IdP") == Operation(
        Kind.DELETE, Target.USER, "u1", "jdoe", "Ann", reason="deactivated in the IdP"
    )


def test_a_leaver_whose_person_another_link_holds_is_only_unlinked() -> None:
    op = remove_user("u1", "jdoe", "Ann", reason="deleted", holder_words="linked to u2")
    assert (op.kind, op.reason) == (Kind.UNLINK, "linked to u2")


# --- roles ----------------------------------------------------------------------------------


def test_roles_are_set_to_exactly_those_the_mapping_names() -> None:
    assert set_roles("u1", "u1", "Ann", held=[5, 6], wanted=["6", 9]) == Operation(
        Kind.ROLES, Target.USER, "u1", "u1", "Ann", (FieldChange("roles", ["5", "6"], ["6", "9"]),)
    )


def test_roles_already_held_need_no_operation() -> None:
    assert set_roles("u1", "u1", "Ann", held=[5], wanted=["5"]) is None


# --- which person: takeover safety (issue 9) ------------------------------------------------


def choose(**overrides: object) -> PersonChoice:
    args: dict[str, object] = {
        "derived": "jdoe",
        "known": None,
        "matches": [],
        "exists": set(),
        "holders": {},
        "on_conflict": "skip",
    }
    args.update(overrides)
    return choose_person("u1", **args)  # type: ignore[arg-type]


def test_a_new_user_is_created_under_its_derived_userid() -> None:
    assert choose() == PersonChoice(Kind.CREATE, "jdoe", "")


def test_the_userid_its_link_already_held_comes_first() -> None:
    assert choose(known="old", matches=[("mobile", "x")]) == PersonChoice(Kind.CREATE, "old", "")


def test_a_userid_dingtalk_already_has_is_adopted_not_created_twice() -> None:
    assert choose(exists={"jdoe"}) == PersonChoice(Kind.LINK, "jdoe", "same userid")


def test_a_person_found_by_a_link_key_is_adopted() -> None:
    assert choose(matches=[("mobile", "zhang")], exists={"zhang"}) == PersonChoice(
        Kind.LINK, "zhang", "matched by mobile", key="mobile"
    )


def test_keys_matching_different_people_are_a_conflict_under_skip() -> None:
    choice = choose(matches=[("mobile", "x"), ("email", "y")])
    assert (choice.kind, choice.reason) == (
        Kind.CONFLICT,
        "matches several DingTalk people (mobile -> x; email -> y)",
    )


def test_keys_matching_different_people_take_the_first_under_first() -> None:
    choice = choose(matches=[("mobile", "x"), ("email", "y")], on_conflict="first")
    assert choice == PersonChoice(Kind.LINK, "x", "matched by mobile", key="mobile")


def test_keys_matching_different_people_create_a_new_one_under_create() -> None:
    choice = choose(matches=[("mobile", "x"), ("email", "y")], on_conflict="create")
    assert choice == PersonChoice(Kind.CREATE, "jdoe", "")


def test_a_matched_person_another_scim_user_holds_is_refused() -> None:
    choice = choose(matches=[("email", "x")], holders={"x": "u2"})
    assert choice == PersonChoice(Kind.CONFLICT, "x", "found by email", "u2", "email")


def test_a_derived_userid_another_user_holds_gives_this_user_its_own() -> None:
    own = userid_choices("jdoe", "u1")[1]
    assert choose(holders={"jdoe": "u2"}) == PersonChoice(Kind.CREATE, own, "")


def test_every_userid_held_by_others_is_a_conflict_naming_the_holder() -> None:
    own = userid_choices("jdoe", "u1")[1]
    choice = choose(holders={"jdoe": "u2", own: "u3"})
    assert choice == PersonChoice(Kind.CONFLICT, own, "the userid derived for it", "u3")


def test_a_known_userid_held_by_another_falls_back_to_the_derived_one() -> None:
    assert choose(known="old", holders={"old": "u2"}) == PersonChoice(Kind.CREATE, "jdoe", "")


# --- departments and roles ------------------------------------------------------------------


SALES = DepartmentSpec("group:g1", "Sales", "path:Acme", "group:g1", order=3)


def test_a_missing_department_is_created_under_its_parent() -> None:
    assert ensure_department(SALES, ident="new:group:g1", parent_id="9", held=None) == [
        Operation(
            Kind.CREATE,
            Target.DEPARTMENT,
            "group:g1",
            "new:group:g1",
            "Sales",
            (
                FieldChange("name", None, "Sales"),
                FieldChange("parent_id", None, "9"),
                FieldChange("source_identifier", None, "group:g1"),
                FieldChange("order", None, 3),
            ),
        )
    ]


def test_a_renamed_and_moved_department_is_moved_then_renamed_in_place() -> None:
    held = {"name": "Sale", "parent_id": 1, "source_identifier": "group:g1", "order": 3}
    ops = ensure_department(SALES, ident="12", parent_id="9", held=held)
    assert [(op.kind, op.ident, op.changes) for op in ops] == [
        (Kind.MOVE, "12", (FieldChange("parent_id", 1, "9"),)),
        (Kind.UPDATE, "12", (FieldChange("name", "Sale", "Sales"),)),
    ]


def test_a_department_without_an_order_keeps_dingtalks() -> None:
    spec = DepartmentSpec("k", "Sales", None, "k")
    held = {"name": "Sales", "parent_id": "1", "source_identifier": "k", "order": 40}
    assert ensure_department(spec, ident="12", parent_id="1", held=held) == []


def test_departments_are_deleted_deepest_first() -> None:
    ops = delete_departments([("a", 7, "Acme", 1), ("b", 8, "Sales", 2), ("c", 9, "Ops", 1)])
    assert [(op.kind, op.key, op.ident) for op in ops] == [
        (Kind.DELETE, "b", "8"),
        (Kind.DELETE, "a", "7"),
        (Kind.DELETE, "c", "9"),
    ]


def test_a_role_is_created_in_its_group_and_renamed_with_its_group() -> None:
    spec = RoleSpec("group:g1", "Approvers", "SCIM")
    (create,) = ensure_role(spec, ident="new:group:g1", held_name=None, linked=False)
    assert create.values == {"roleName": "Approvers", "group": "SCIM"}
    (rename,) = ensure_role(spec, ident="41", held_name="Approver", linked=True)
    assert (rename.kind, rename.changes) == (
        Kind.UPDATE,
        (FieldChange("roleName", "Approver", "Approvers"),),
    )
    assert ensure_role(spec, ident="41", held_name="Approvers", linked=True) == []
