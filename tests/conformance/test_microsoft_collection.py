"""Microsoft's SCIM reference collection, restated as our own tests.

AzureAD/SCIMReferenceCode publishes a Postman collection (``PostmanCollection.json``) that
Microsoft points SCIM implementers at. It is Microsoft's and is never committed here;
``scripts/ms_collection.py`` runs it with newman against a server of ours (docs/conformance.md,
"Microsoft's collection"). Every behaviour it checks is asserted below, in our words and with
our own data, over the Flask test client, on SQLite and PostgreSQL.

The collection runs under an ``entra`` token (the profile Entra's own provisioning gets);
requests go out as Postman sends them: ``Content-Type: application/json`` and Postman's
User-Agent. Its shapes are kept because they are the point: capitalised attribute names,
nulls, ``"True"`` for a boolean, read-only ``meta`` sent back, unquoted filter values,
members given as bare strings or with keys the Group schema does not define, one placeholder
externalId on every resource.

The collection's checks group into the classes below (its folders); the per-profile decisions
it forced (unknown member ids, PATCH status) close the file. The one check the server does not
meet, a member's ``display`` echoing a ``displayName`` key the client sent (M1 in
docs/conformance.md), is asserted for what the server does instead.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from idp_support import (
    CORE_GROUP,
    CORE_USER,
    ENTERPRISE,
    PATCH_OP,
    IdpClient,
    assert_error,
    assert_list_response,
    client_for,
)
from sqlalchemy import func, select

from scim_bridge.app import create_app
from scim_bridge.directory.db import Database
from scim_bridge.directory.models import Group, GroupMember, User
from scim_bridge.settings import Settings

POSTMAN_UA = "PostmanRuntime/7.43.0"
POSTMAN_HEADERS = {"User-Agent": POSTMAN_UA, "Content-Type": "application/json"}
#: The collection writes this where it meant a fresh GUID; Postman does not expand it, so
#: every resource it creates carries the same externalId (RFC 7643 §3.1: not unique).
PLACEHOLDER_EXTERNAL_ID = "${__UUID}"


@pytest.fixture
def ms(app: Any, database: Database) -> IdpClient:
    """The collection's client: an ``entra`` token, Postman's headers."""
    return client_for(app, database, "ms-collection", "entra", POSTMAN_HEADERS)


def person(user_name: str, **extra: Any) -> dict[str, Any]:
    """A User body shaped like the collection's: capitalised ``Primary``, a placeholder id."""
    return {
        "schemas": [CORE_USER],
        "userName": user_name,
        "active": True,
        "displayName": f"{user_name} display",
        "externalId": PLACEHOLDER_EXTERNAL_ID,
        "name": {"formatted": "Ada Example", "familyName": "Example", "givenName": "Ada"},
        "emails": [
            {"Primary": True, "type": "work", "value": f"{user_name.lower()}@work.test"},
            {"Primary": False, "type": "home", "value": f"{user_name.lower()}@home.test"},
        ],
        **extra,
    }


def create(client: IdpClient, path: str, body: dict[str, Any]) -> str:
    """POST and return the new id (201 required)."""
    response = client.post(path, body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return str(response.get_json()["id"])


def read(client: IdpClient, path: str) -> dict[str, Any]:
    """GET one resource (200 required)."""
    response = client.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)
    return dict(response.get_json())


def patch_op(*operations: dict[str, Any], **top: Any) -> dict[str, Any]:
    """A PatchOp body; ``top`` adds members the collection puts beside ``Operations``."""
    return {"schemas": [PATCH_OP], "Operations": list(operations), **top}


def total(client: IdpClient, query: str) -> int:
    """totalResults of ``GET /Users?<query>``."""
    response = client.get(f"/Users?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return int(response.get_json()["totalResults"])


def member_values(client: IdpClient, group_id: str) -> set[str]:
    """The member ids a group shows."""
    return {m["value"] for m in read(client, f"/Groups/{group_id}").get("members") or []}


def stored_counts(database: Database) -> tuple[int, int, int]:
    """How many users, groups and memberships the store holds."""
    with database.read() as session:
        return (
            session.scalar(select(func.count()).select_from(User)) or 0,
            session.scalar(select(func.count()).select_from(Group)) or 0,
            session.scalar(select(func.count()).select_from(GroupMember)) or 0,
        )


# --- discovery and empty lists ("Endpoint tests") --------------------------------------------


class TestDiscovery:
    """The "Endpoint tests" folder: empty lists and the discovery documents."""

    def test_empty_directory_lists_nothing_under_any_path_casing(self, ms: IdpClient) -> None:
        """``/users`` (lower case) and ``/Groups`` answer 200 with an empty list."""
        for path in ("/users", "/Users", "/Groups", "/groups"):
            body = assert_list_response(ms.get(path), total=0)
            assert body["Resources"] == []

    def test_resource_types_put_users_first(self, ms: IdpClient) -> None:
        """The collection reads the endpoint of the first ResourceType: ``/Users``."""
        body = read(ms, "/ResourceTypes")
        assert body["Resources"][0]["endpoint"] == "/Users"

    def test_service_configuration_alias_reports_patch(self, ms: IdpClient) -> None:
        """``/serviceConfiguration`` (the reference code's name) is ServiceProviderConfig."""
        alias = read(ms, "/serviceConfiguration")
        assert alias["patch"]["supported"] is True
        assert alias == read(ms, "/ServiceProviderConfig")

    def test_user_schema_is_described_as_a_user_account(self, ms: IdpClient) -> None:
        """RFC 7643 §8.7.1 describes the User schema as "User Account"; clients look for it."""
        schemas = read(ms, "/Schemas")["Resources"]
        user = next(s for s in schemas if s["id"] == CORE_USER)
        assert user["description"].startswith("User Account")


# --- the User lifecycle ("User tests") --------------------------------------------------------


class TestUsers:
    """The "User tests" folder: create, read, project, filter, PATCH, PUT, DELETE."""

    def test_capitalised_primary_is_the_primary_sub_attribute(self, ms: IdpClient) -> None:
        """RFC 7643 §2.1: attribute names are case-insensitive; ``Primary`` is ``primary``."""
        uid = create(ms, "/Users", person("Capitals"))
        emails = read(ms, f"/Users/{uid}")["emails"]
        primary = [e["value"] for e in emails if e.get("primary") is True]
        assert primary == ["capitals@work.test"]
        assert all("Primary" not in e for e in emails)

    def test_enterprise_extension_with_capitalised_names(self, ms: IdpClient) -> None:
        """The extension URN listed first, ``Department`` and ``Manager.Value`` capitalised."""
        body = person("Enterprise", schemas=[ENTERPRISE, CORE_USER])
        body[ENTERPRISE] = {"Department": "Tours", "Manager": {"Value": "boss-not-here"}}
        uid = create(ms, "/Users", body)
        got = read(ms, f"/Users/{uid}")
        assert got[ENTERPRISE]["department"] == "Tours"
        assert got[ENTERPRISE]["manager"]["value"] == "boss-not-here"

    def test_read_by_id_returns_that_user(self, ms: IdpClient) -> None:
        """``GET /Users/{id}`` answers the user with that id, among others."""
        first = create(ms, "/Users", person("First"))
        second = create(ms, "/Users", person("Second"))
        assert read(ms, f"/Users/{first}")["id"] == first
        assert read(ms, f"/Users/{second}")["id"] == second

    def test_attribute_projection_keeps_ids(self, ms: IdpClient) -> None:
        """``?attributes=userName,emails``: asked attributes plus ``id`` (RFC 7644 §3.9)."""
        uid = create(ms, "/Users", person("Projected"))
        body = assert_list_response(ms.get("/Users?attributes=userName,emails"), total=1)
        (only,) = body["Resources"]
        assert only["id"] == uid
        assert set(only) - {"schemas", "id"} == {"userName", "emails"}

    def test_filter_names_any_casing_through_a_trailing_slash(self, ms: IdpClient) -> None:
        """``/Users/?filter=DisplayName eq "…"``: the slash is the collection's, the case too."""
        uid = create(ms, "/Users", person("Shown", displayName="Shown Person"))
        create(ms, "/Users", person("Hidden"))
        body = assert_list_response(
            ms.get("/Users/?filter=DisplayName+eq+%22Shown+Person%22"), total=1
        )
        assert body["Resources"][0]["id"] == uid

    def test_patch_replace_username_then_read_it(self, ms: IdpClient) -> None:
        """A path-addressed replace of ``userName`` answers 204 and shows on the next read."""
        uid = create(ms, "/Users", person("Before"))
        op = {"op": "replace", "path": "userName", "value": "after"}
        response = ms.patch(f"/Users/{uid}", patch_op(op))
        assert response.status_code == 204, response.get_data(as_text=True)
        assert read(ms, f"/Users/{uid}")["userName"] == "after"

    def test_put_replaces_the_formatted_name(self, ms: IdpClient) -> None:
        """PUT with the ``id`` in the body and the extension URN listed: 200, name replaced."""
        uid = create(ms, "/Users", person("Replaced"))
        body = person("Replaced2", schemas=[ENTERPRISE, CORE_USER], id=uid)
        body["name"] = {"formatted": "Renamed Person", "familyName": "Person"}
        response = ms.put(f"/Users/{uid}", body)
        assert response.status_code == 200, response.get_data(as_text=True)
        got = read(ms, f"/Users/{uid}")
        assert got["userName"] == "Replaced2"
        assert got["name"] == {"formatted": "Renamed Person", "familyName": "Person"}

    def test_delete_user_is_204_then_gone(self, ms: IdpClient) -> None:
        """DELETE answers 204 with no body; the user is then 404."""
        uid = create(ms, "/Users", person("Leaver"))
        response = ms.delete(f"/Users/{uid}")
        assert response.status_code == 204
        assert response.get_data() == b""
        assert_error(ms.get(f"/Users/{uid}"), 404)


# --- Groups and their members ("Group tests") -------------------------------------------------


class TestGroups:
    """The "Group tests" folder: groups with and without members, member PATCHes."""

    def test_create_group_with_an_empty_member_list(self, ms: IdpClient) -> None:
        """``"members": []`` on POST: 201, a group with no members."""
        body = {"schemas": [CORE_GROUP], "displayName": "Empty", "members": []}
        gid = create(ms, "/Groups", {**body, "externalId": PLACEHOLDER_EXTERNAL_ID})
        assert member_values(ms, gid) == set()

    def test_create_group_with_a_member_and_a_client_display(self, ms: IdpClient) -> None:
        """A member sent with ``display`` is kept; the display shown is the member's name."""
        uid = create(ms, "/Users", person("Member", displayName="Real Name"))
        body = {
            "schemas": [CORE_GROUP],
            "displayName": "Filled",
            "members": [{"value": uid, "display": "a title, not a name"}],
        }
        gid = create(ms, "/Groups", body)
        (member,) = read(ms, f"/Groups/{gid}")["members"]
        assert member["value"] == uid
        assert member["display"] == "Real Name"

    def test_groups_list_answers_200(self, ms: IdpClient) -> None:
        """``GET /Groups`` lists what was created."""
        create(ms, "/Groups", {"schemas": [CORE_GROUP], "displayName": "Listed"})
        assert_list_response(ms.get("/Groups"), total=1)

    def test_put_group_renames_and_sets_two_members(self, ms: IdpClient) -> None:
        """PUT with the ``id`` in the body and two members: 200; both are members."""
        a = create(ms, "/Users", person("PutA"))
        b = create(ms, "/Users", person("PutB"))
        gid = create(ms, "/Groups", {"schemas": [CORE_GROUP], "displayName": "Put me"})
        body = {
            "schemas": [CORE_GROUP],
            "id": gid,
            "displayName": "Put done",
            "members": [{"value": a, "display": "x"}, {"value": b, "display": "y"}],
        }
        response = ms.put(f"/Groups/{gid}", body)
        assert response.status_code == 200, response.get_data(as_text=True)
        got = read(ms, f"/Groups/{gid}")
        assert got["id"] == gid
        assert got["displayName"] == "Put done"
        assert {m["value"] for m in got["members"]} == {a, b}

    def test_add_remove_by_filter_and_add_again(self, ms: IdpClient) -> None:
        """Add (an op with a ``name`` key), remove by ``members[value eq …]``, add again.

        The member object carries ``displayName``, which the Group schema does not define
        (RFC 7643 §8.7.1: value, $ref, type): it is ignored, and ``display`` stays the
        member's own name. The collection expects its text back (M1, docs/conformance.md).
        """
        uid = create(ms, "/Users", person("Joiner", displayName="Joiner Own Name"))
        gid = create(ms, "/Groups", {"schemas": [CORE_GROUP], "displayName": "Churn"})
        add = {
            "name": "addMember",
            "op": "add",
            "path": "members",
            "value": [{"displayName": "client text", "value": uid}],
        }
        remove = {"op": "remove", "path": f'members[value eq "{uid}"]'}
        for body, expected in ((add, {uid}), (remove, set()), (add, {uid})):
            response = ms.patch(f"/Groups/{gid}", patch_op(body))
            assert response.status_code == 204, response.get_data(as_text=True)
            assert member_values(ms, gid) == expected
        text = ms.get(f"/Groups/{gid}").get_data(as_text=True)
        assert "Joiner Own Name" in text
        assert "client text" not in text

    def test_remove_members_without_a_value_empties_the_group(self, ms: IdpClient) -> None:
        """RFC 7644 §3.5.2.2: remove on ``members`` with no filter removes every member."""
        a = create(ms, "/Users", person("GoneA"))
        b = create(ms, "/Users", person("GoneB"))
        body = {"schemas": [CORE_GROUP], "displayName": "Emptied"}
        gid = create(ms, "/Groups", {**body, "members": [{"value": a}, {"value": b}]})
        response = ms.patch(f"/Groups/{gid}", patch_op({"op": "remove", "path": "members"}))
        assert response.status_code == 204, response.get_data(as_text=True)
        assert member_values(ms, gid) == set()
        assert read(ms, f"/Users/{a}")["id"] == a  # the users themselves stay

    def test_delete_members_then_groups(self, ms: IdpClient, database: Database) -> None:
        """Users in a group, then the groups, are deleted with 204 each; nothing is left."""
        uid = create(ms, "/Users", person("InGroup"))
        body = {"schemas": [CORE_GROUP], "members": [{"value": uid}]}
        gids = [create(ms, "/Groups", {**body, "displayName": f"G{i}"}) for i in range(2)]
        assert ms.delete(f"/Users/{uid}").status_code == 204
        assert all(member_values(ms, gid) == set() for gid in gids)
        for gid in gids:
            assert ms.delete(f"/Groups/{gid}").status_code == 204
        assert stored_counts(database) == (0, 0, 0)


# --- attributes with value filters ("ComplexAttribute tests") ---------------------------------


class TestComplexAttributes:
    """The "ComplexAttribute tests" folder: ``attributes`` naming a value filter."""

    @pytest.mark.parametrize(
        "attributes",
        ["emails%5Btype+eq+%22work%22%5D", "emails%5Bvalue+eq+%22plainname%22%5D"],
    )
    def test_attributes_with_a_value_filter_return_the_emails(
        self, ms: IdpClient, attributes: str
    ) -> None:
        """``?attributes=emails[…]`` answers 200 with the emails (a value that is no address)."""
        body = person("Complex")
        body["emails"][0]["value"] = "plainname"
        create(ms, "/Users", body)
        create(ms, "/Users", person("Other"))
        response = ms.get(f"/Users?attributes={attributes}")
        assert response.status_code == 200, response.get_data(as_text=True)
        shown = [e["value"] for r in response.get_json()["Resources"] for e in r.get("emails", [])]
        assert "plainname" in shown


# --- tolerated and refused input ("User tests with garbage") ----------------------------------


def employee(user_name: str, **extra: Any) -> dict[str, Any]:
    """The collection's "garbage" User: nulls, read-only ``meta``, empty ``roles``, phones."""
    return {
        "schemas": [CORE_USER],
        "userName": user_name,
        "active": True,
        "displayName": "Some Employee",
        "externalId": "the-same-external-id",
        "addresses": [
            {"type": "work", "primary": False, "country": "Bermuda", "locality": "Hamilton"},
            {"type": "other", "primary": False, "country": None, "formatted": "PO Box 1"},
        ],
        "emails": [
            {"type": "work", "primary": True, "value": f"{user_name.lower()}@example.com"},
            {"type": "other", "primary": False, "value": f"{user_name.lower()}@example.org"},
        ],
        "meta": {
            "created": "2001-02-03T04:05:06.1234567+00:00",
            "lastModified": "2001-02-03T04:05:06.1234567+00:00",
            "resourceType": "User",
        },
        "name": {"familyName": "Employee", "givenName": "Some", "honorificPrefix": None},
        "phoneNumbers": [{"type": "mobile", "primary": True, "value": "312-555-0100"}],
        "preferredLanguage": "xh",
        "roles": [],
        "title": "Site engineer",
        **extra,
    }


class TestGarbage:
    """The "User tests with garbage" folder: what is tolerated, what is refused."""

    def test_nulls_client_meta_and_empty_roles_are_tolerated(self, ms: IdpClient) -> None:
        """201; nulls are absent values (RFC 7643 §2.5); the client's ``meta`` is not kept."""
        response = ms.post("/Users", employee("Tolerated"))
        assert response.status_code == 201, response.get_data(as_text=True)
        got = response.get_json()
        assert got["userName"] == "Tolerated"
        assert got["active"] is True
        assert not got["meta"]["created"].startswith("2001")  # RFC 7643 §3.1: readOnly
        other = next(a for a in got["addresses"] if a["type"] == "other")
        assert "country" not in other

    def test_string_true_is_stored_as_a_boolean(self, ms: IdpClient) -> None:
        """``"active": "True"`` → 201 with ``active: true`` as a JSON boolean."""
        response = ms.post("/Users", employee("StringTrue", active="True"))
        assert response.status_code == 201, response.get_data(as_text=True)
        assert response.get_json()["active"] is True
        listed = assert_list_response(ms.get("/Users"), total=1)
        assert listed["Resources"][0]["active"] is True

    def test_repeated_external_id_is_accepted(self, ms: IdpClient) -> None:
        """RFC 7643 §3.1 gives externalId no uniqueness: the same one twice is two users."""
        first = create(ms, "/Users", person("Twin1"))
        second = create(ms, "/Users", person("Twin2"))
        body = assert_list_response(
            ms.get('/Users?filter=externalId eq "${__UUID}"&attributes=id'), total=2
        )
        assert {r["id"] for r in body["Resources"]} == {first, second}

    def test_create_without_username_is_400_and_stores_nothing(
        self, ms: IdpClient, database: Database
    ) -> None:
        """userName is required (RFC 7643 §4.1.1): 400, no user."""
        body = employee("x")
        del body["userName"]
        assert_error(ms.post("/Users", body), 400)
        assert stored_counts(database) == (0, 0, 0)

    def test_unparsable_json_is_400_and_stores_nothing(
        self, ms: IdpClient, database: Database
    ) -> None:
        """A body that is not JSON (a bare word, a cut-off member) is 400 invalidSyntax."""
        broken = '{"acive": tru, "userName": "Broken", "emails": [{"valu'
        assert_error(ms.post("/Users", broken), 400, "invalidSyntax")
        assert stored_counts(database) == (0, 0, 0)

    def test_duplicate_username_is_409_with_detail_each_time(self, ms: IdpClient) -> None:
        """RFC 7644 §3.3: a taken userName is 409 uniqueness with a ``detail``, every retry."""
        create(ms, "/Users", employee("Taken"))
        for _ in range(3):
            error = assert_error(ms.post("/Users", employee("Taken")), 409, "uniqueness")
            assert error["detail"]
        assert_list_response(ms.get("/Users"), total=1)

    def test_put_without_username_is_400_and_changes_nothing(self, ms: IdpClient) -> None:
        """A PUT whose userName key is misspelled lacks a required attribute: 400."""
        uid = create(ms, "/Users", employee("Kept"))
        before = read(ms, f"/Users/{uid}")
        body = employee("Kept", id=uid, active=False)
        body["userame"] = body.pop("userName")
        assert_error(ms.put(f"/Users/{uid}", body), 400)
        assert read(ms, f"/Users/{uid}") == before

    def test_put_ignores_a_misspelled_attribute(self, ms: IdpClient) -> None:
        """An unknown attribute in a PUT is ignored: 200, not echoed; omitted ones go."""
        uid = create(ms, "/Users", employee("Misspelt"))
        body = employee("Misspelt", id=uid)
        body["adresses"] = body.pop("addresses")
        response = ms.put(f"/Users/{uid}", body)
        assert response.status_code == 200, response.get_data(as_text=True)
        text = response.get_data(as_text=True)
        assert "adresses" not in text.lower()
        assert "addresses" not in response.get_json()  # RFC 7644 §3.5.1: PUT replaces

    def test_enterprise_department_capitalised_in_a_garbage_body(self, ms: IdpClient) -> None:
        """The garbage body with an enterprise ``Department``: 201, department stored."""
        uid = create(ms, "/Users", employee("Ent", **{ENTERPRISE: {"Department": "Ops"}}))
        assert read(ms, f"/Users/{uid}")[ENTERPRISE] == {"department": "Ops"}

    def test_capitalised_replace_ops_answer_204(self, ms: IdpClient) -> None:
        """``"op": "Replace"`` of userName, then of active with a boolean: 204 each."""
        uid = create(ms, "/Users", employee("Patched"))
        for path, value in (("userName", "renamed"), ("active", False)):
            op = {"op": "Replace", "path": path, "value": value}
            response = ms.patch(f"/Users/{uid}", patch_op(op))
            assert response.status_code == 204, response.get_data(as_text=True)
            assert response.get_data() == b""
        got = read(ms, f"/Users/{uid}")
        assert (got["userName"], got["active"]) == ("renamed", False)

    def test_put_restores_username_with_active_false(self, ms: IdpClient) -> None:
        """PUT back the old userName, inactive, a new country: the 200 body shows all three."""
        uid = create(ms, "/Users", employee("Restored"))
        ms.patch(f"/Users/{uid}", patch_op({"op": "Replace", "path": "userName", "value": "x"}))
        body = employee("Restored", id=uid, active=False)
        body["addresses"][0]["country"] = "Germany"
        response = ms.put(f"/Users/{uid}", body)
        assert response.status_code == 200, response.get_data(as_text=True)
        got = response.get_json()
        assert (got["userName"], got["active"]) == ("Restored", False)
        assert "Germany" in response.get_data(as_text=True)

    def test_paging_and_projection_count_every_user(self, ms: IdpClient) -> None:
        """``startIndex=1&count=2`` over five users: totalResults 5, itemsPerPage 2."""
        for i in range(5):
            create(ms, "/Users", employee(f"Paged{i}"))
        page = assert_list_response(ms.get("/Users?startIndex=1&count=2"), total=5)
        assert page["itemsPerPage"] == 2
        assert total(ms, "attributes=userName,emails") == 5

    def test_unquoted_filter_values(self, ms: IdpClient) -> None:
        """The entra profile reads unquoted values: a word, a letter, a 7-digit timestamp."""
        create(ms, "/Users", employee("Oscar", name={"familyName": "Someone"}))
        for i in range(3):
            create(ms, "/Users", employee(f"emp{i}"))
        flt = (
            "name.FamilyName eq Employee and "
            "(emails.Value co example.com or emails.Value co example.org)"
        )
        assert total(ms, f"filter={flt}") == 3
        assert total(ms, "filter=userName sw O") == 1
        assert total(ms, "filter=meta.Created gt 2015-10-10T14:38:21.8617979-07:00") == 4


# --- Group input the schema does not describe ("Group tests with garbage") --------------------


class TestGroupGarbage:
    """The "Group tests with garbage" folder."""

    def test_bare_string_member_naming_nothing_is_skipped(
        self, ms: IdpClient, database: Database
    ) -> None:
        """A bare-string member value naming no resource, ``id`` beside ``Operations``: 204."""
        gid = create(ms, "/Groups", {"schemas": [CORE_GROUP], "displayName": "Garbage"})
        for value in ("no such id 1", "no such id 2"):
            op = {"op": "add", "path": "members", "value": value}
            response = ms.patch(f"/Groups/{gid}", patch_op(op, id=gid))
            assert response.status_code == 204, response.get_data(as_text=True)
        assert member_values(ms, gid) == set()
        assert stored_counts(database) == (0, 1, 0)
        excluded = read(ms, f"/Groups/{gid}?excludedAttributes=members")
        assert "members" not in excluded

    def test_put_group_without_members_renames_it(self, ms: IdpClient) -> None:
        """PUT with ``id``, a new name and externalId and no members: 200 with the new name."""
        gid = create(ms, "/Groups", {"schemas": [CORE_GROUP], "displayName": "Old name"})
        body = {"schemas": [CORE_GROUP], "id": gid, "displayName": "New name", "externalId": "e2"}
        response = ms.put(f"/Groups/{gid}", body)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json()["displayName"] == "New name"
        assert response.get_json()["externalId"] == "e2"


class TestTeardown:
    """The collection's last checks: after its deletes, the lists are empty."""

    def test_lists_are_empty_arrays_after_everything_is_deleted(self, ms: IdpClient) -> None:
        """After the deletes, ``Resources`` is present and ``[]`` (not absent, not null)."""
        uid = create(ms, "/Users", employee("Last"))
        gid = create(ms, "/Groups", {"schemas": [CORE_GROUP], "displayName": "Last"})
        assert ms.delete(f"/Users/{uid}").status_code == 204
        assert ms.delete(f"/Groups/{gid}").status_code == 204
        for path in ("/Users?attributes=userName", "/Groups"):
            assert assert_list_response(ms.get(path), total=0)["Resources"] == []


# --- the decisions the collection forced, per profile -----------------------------------------

#: Profiles that skip member ids naming nothing (IdPs re-sending recorded ids), and those
#: that refuse them with 400 invalidValue (docs/profiles.md, "Unknown member ids").
SKIPPING = ("entra", "entra-additive", "okta")
REFUSING = ("strict", "auto")


def add_member(client: IdpClient, gid: str, *values: str) -> Any:
    """PATCH add members with these values."""
    op = {"op": "add", "path": "members", "value": [{"value": v} for v in values]}
    return client.patch(f"/Groups/{gid}", patch_op(op))


class TestUnknownMembersPerProfile:
    """Member ids that name nothing: skipped or refused, by the token's profile."""

    @pytest.mark.parametrize("profile", SKIPPING)
    def test_lenient_profiles_skip_unknown_ids_and_keep_known_ones(
        self, app: Any, database: Database, profile: str
    ) -> None:
        """POST, PUT and PATCH add: unknown ids are dropped, known ones stored, 2xx."""
        client = client_for(app, database, profile, profile, POSTMAN_HEADERS)
        uid = create(client, "/Users", person("Known"))
        body = {"schemas": [CORE_GROUP], "displayName": "Lenient"}
        gid = create(client, "/Groups", {**body, "members": [{"value": "ghost-1"}]})
        assert member_values(client, gid) == set()
        assert add_member(client, gid, uid, "ghost-2").status_code in (200, 204)
        assert member_values(client, gid) == {uid}
        put = client.put(f"/Groups/{gid}", {**body, "members": [{"value": "ghost-3"}]})
        assert put.status_code == 200, put.get_data(as_text=True)
        assert member_values(client, gid) == set()
        assert stored_counts(database) == (1, 1, 0)

    @pytest.mark.parametrize("profile", REFUSING)
    def test_rfc_profiles_refuse_unknown_ids_and_change_nothing(
        self, app: Any, database: Database, profile: str
    ) -> None:
        """strict and generic (an auto token from Postman): 400 invalidValue naming the id."""
        client = client_for(app, database, profile, profile, POSTMAN_HEADERS)
        uid = create(client, "/Users", person("Known"))
        body = {"schemas": [CORE_GROUP], "displayName": "Strict"}
        gid = create(client, "/Groups", {**body, "members": [{"value": uid}]})
        error = assert_error(add_member(client, gid, "ghost-2"), 400, "invalidValue")
        assert "ghost-2" in error["detail"]
        put = client.put(f"/Groups/{gid}", {**body, "members": [{"value": "ghost-3"}]})
        assert "ghost-3" in assert_error(put, 400, "invalidValue")["detail"]
        post = client.post("/Groups", {**body, "displayName": "New", "members": ["ghost-4"]})
        assert_error(post, 400, "invalidValue")
        assert member_values(client, gid) == {uid}
        assert stored_counts(database) == (1, 1, 1)

    def test_a_group_in_itself_is_refused_even_when_lenient(self, ms: IdpClient) -> None:
        """Skipping names nothing real; a group naming itself is still 400 invalidValue."""
        gid = create(ms, "/Groups", {"schemas": [CORE_GROUP], "displayName": "Self"})
        assert_error(add_member(ms, gid, gid), 400, "invalidValue")

    def test_skipped_ids_are_logged_quoted_and_cut_short(
        self, ms: IdpClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The operator sees which ids were skipped; a hostile id cannot forge a log line."""
        gid = create(ms, "/Groups", {"schemas": [CORE_GROUP], "displayName": "Logged"})
        hostile = "ghost\nFAKE LOG LINE " + "x" * 200
        with caplog.at_level(logging.WARNING, logger="scim_bridge.directory.groups"):
            assert add_member(ms, gid, hostile).status_code == 204
        (record,) = [r for r in caplog.records if r.name == "scim_bridge.directory.groups"]
        message = record.getMessage()
        assert gid in message and "ms-collection" in message
        assert "\n" not in message
        assert "x" * 100 not in message


class TestPatchStatusPerProfile:
    """A successful PATCH answers 204 or 200 with the resource, by the token's profile."""

    @pytest.mark.parametrize(
        ("profile", "status"),
        [("entra", 204), ("entra-additive", 204), ("okta", 200), ("strict", 200), ("auto", 200)],
    )
    def test_user_patch_status(
        self, app: Any, database: Database, profile: str, status: int
    ) -> None:
        """Entra's profiles answer a User PATCH 204; the others 200 with the resource.

        An ``auto`` token from Postman's User-Agent gets the generic profile: RFC 7644
        §3.5.2's 200 with the resource, which the collection's 204 checks do not accept.
        """
        client = client_for(app, database, profile, profile, POSTMAN_HEADERS)
        uid = create(client, "/Users", person("Status"))
        op = {"op": "Replace", "path": "active", "value": False}
        response = client.patch(f"/Users/{uid}", patch_op(op))
        assert response.status_code == status, response.get_data(as_text=True)
        if status == 200:
            assert response.get_json()["active"] is False
        else:
            assert response.get_data() == b""
            assert response.headers["ETag"]

    def test_default_profile_setting_gives_auto_tokens_entra_answers(
        self, db_url: str, database: Database
    ) -> None:
        """``default_profile = entra`` makes an auto token answer as Entra's profile does."""
        app = create_app(Settings(database_url=db_url, default_profile="entra"), db=database)
        client = client_for(app, database, "auto-token", "auto", POSTMAN_HEADERS)
        uid = create(client, "/Users", person("Defaulted"))
        gid = create(client, "/Groups", {"schemas": [CORE_GROUP], "displayName": "Defaulted"})
        op = {"op": "Replace", "path": "active", "value": False}
        assert client.patch(f"/Users/{uid}", patch_op(op)).status_code == 204
        assert add_member(client, gid, "ghost").status_code == 204
