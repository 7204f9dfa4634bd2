"""IdP compatibility profiles: where Okta and Entra disagree, the profile decides.

A token names its profile (``token create NAME --profile okta|entra|strict``); a token whose
profile is ``auto`` gets one from the request's User-Agent (scim-idp-notes.md §1.5, §2).
"""

from __future__ import annotations

from dataclasses import dataclass

from scim_bridge.scim.resources import Compat


@dataclass(frozen=True)
class Profile:
    """How this server bends for one IdP."""

    name: str
    compat: Compat
    #: Entra's "replace members" sends partial lists; treat it as "add" (PostHog #47336).
    additive_member_replace: bool = False
    #: Status of a successful PATCH: 200 with the resource, or 204 No Content.
    user_patch_status: int = 200
    group_patch_status: int = 200
    #: A member id that names no User or Group: skipped (True) or a 400 invalidValue (False).
    ignore_unknown_members: bool = False


# Okta and Entra push group memberships as ids they recorded earlier; one that names nothing
# here (deleted since, or never provisioned) would fail the whole push and every retry of it.
# Their profiles skip such ids; strict and generic answer 400 naming them, because RFC 7643
# §4.2 has "value" hold "the value of an "id" attribute of a SCIM resource". docs/profiles.md.
PROFILES = {
    # RFC 7644 to the letter: no lenient filters, no flat enterprise attributes. A Group
    # PATCH answers 204, which §3.5.2 allows: "the entire resource" is O(members) (issue 14).
    "strict": Profile(
        "strict",
        Compat(flat_enterprise=False, lenient_filters=False),
        group_patch_status=204,
    ),
    # Okta accepts 204 for group PATCH and needs no member list back (notes §1.21).
    "okta": Profile(
        "okta",
        Compat(flat_enterprise=False, lenient_filters=True),
        group_patch_status=204,
        ignore_unknown_members=True,
    ),
    # Entra reads no PATCH body; Microsoft's Postman collection asserts 204 for Users and
    # Groups (notes §2.13, §2.22; RFC 7644 §3.5.2 allows it). Lenient filters, flat attrs.
    "entra": Profile(
        "entra",
        Compat(flat_enterprise=True, lenient_filters=True),
        user_patch_status=204,
        group_patch_status=204,
        ignore_unknown_members=True,
    ),
    # Entra tenants that send partial member lists with "replace" (scim-idp-notes §2.21): the
    # list is added, nothing is removed. Opt in per token; the RFC default is full replacement.
    "entra-additive": Profile(
        "entra-additive",
        Compat(flat_enterprise=True, lenient_filters=True),
        additive_member_replace=True,
        user_patch_status=204,
        group_patch_status=204,
        ignore_unknown_members=True,
    ),
    # An unknown client: accept everything tolerable, answer like the RFC; a Group PATCH
    # answers 200 with the group but not its members unless `attributes` asks (issue 14).
    "generic": Profile("generic", Compat(flat_enterprise=True, lenient_filters=True)),
}


def detect_profile(user_agent: str | None) -> str:
    """Name the profile a User-Agent suggests (okta, entra, or generic)."""
    ua = (user_agent or "").lower()
    if "okta" in ua:
        return "okta"
    if any(mark in ua for mark in ("azure", "microsoft", "entra", "aad")):
        return "entra"
    return "generic"


def choose_profile(token_profile: str, default_profile: str, user_agent: str | None) -> Profile:
    """Return the profile for a request: the token's, else the default, else the User-Agent's."""
    for name in (token_profile, default_profile):
        if name in PROFILES:
            return PROFILES[name]
    return PROFILES[detect_profile(user_agent)]
