"""The resources `scim_load.py` sends: the same bodies for both servers, from an index.

Standard library only: the reference server's application (``scim2_reference_app.py``) imports
this module from its own virtualenv to seed its in-memory store with the same users.
"""

from __future__ import annotations

from typing import Any

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

GIVEN = ("Ada", "Bo", "Chen", "Dana", "Eli", "Fang", "Gus", "Hana", "Ivo", "Jun", "Kai", "Li")
FAMILY = ("Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu")


def user_name(index: int) -> str:
    """Return the userName of user number ``index``."""
    return f"user{index:07d}@example.com"


def user_body(index: int) -> dict[str, Any]:
    """Return the body Okta POSTs to /Users for user number ``index`` (no password).

    With a mobile number, as Okta sends it once mobilePhone is mapped: DingTalk takes nobody
    without one, and a benchmark with the translator on must see it create people, not
    dead-letter them without a call."""
    given = GIVEN[index % len(GIVEN)]
    family = FAMILY[(index // len(GIVEN)) % len(FAMILY)]
    name = user_name(index)
    return {
        "schemas": [USER_SCHEMA],
        "userName": name,
        "name": {"givenName": given, "familyName": family},
        "emails": [{"primary": True, "value": name, "type": "work"}],
        "phoneNumbers": [{"value": f"+86 138{index:08d}", "type": "mobile"}],
        "displayName": f"{given} {family} {index}",
        "locale": "en-US",
        "externalId": f"00u{index:012d}",
        "groups": [],
        "active": True,
    }


def group_body(name: str) -> dict[str, Any]:
    """Return the body Okta POSTs to /Groups for an empty push group."""
    return {"schemas": [GROUP_SCHEMA], "displayName": name, "members": []}


def deactivate_body() -> dict[str, Any]:
    """Return Okta's PATCH that deactivates a user (value form, no path)."""
    return {
        "schemas": [PATCH_SCHEMA],
        "Operations": [{"op": "replace", "value": {"active": False}}],
    }


def add_members_body(user_ids: list[str]) -> dict[str, Any]:
    """Return Okta's PATCH that adds members to a group."""
    return {
        "schemas": [PATCH_SCHEMA],
        "Operations": [
            {"op": "add", "path": "members", "value": [{"value": uid} for uid in user_ids]}
        ],
    }
