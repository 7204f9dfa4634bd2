"""Whether DingTalk could ever accept a user, judged by the quality report's own checks.

With ``SCIM_BRIDGE_REJECT_UNPROJECTABLE=true`` the SCIM API refuses such a user at once (400
invalidValue) instead of accepting it and dead-lettering it later, so the IdP's provisioning
log shows why. The checks are quality.py's per-user blocking checks on the same projection the
translator makes: a user refused here is one the translator would fail on, and no other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scim_bridge.mapping import policies
from scim_bridge.mapping.attributes import USER_FIELDS
from scim_bridge.mapping.quality import BLOCKING, user_findings
from scim_bridge.mapping.rules import MappingRules

#: The DingTalk field behind each per-user blocking check.
_FIELD_OF = {"mobile_missing": "mobile", "mobile_invalid": "mobile", "name_missing": "name"}


@dataclass(frozen=True)
class Refusal:
    """Why DingTalk would refuse one user: the check, the SCIM attribute, the fix."""

    check: str
    attribute: str
    reason: str
    fix: str

    def __str__(self) -> str:
        return f"{self.reason} ({self.attribute}): {self.fix}"


def refusals(user: Mapping[str, Any], rules: MappingRules) -> list[Refusal]:
    """Return why DingTalk could never accept this user as it stands (empty: it could)."""
    if not policies.is_active(user):
        return []  # the IdP must always be able to switch someone off
    findings = user_findings(user, rules)
    checks = {f.check for f in findings}
    out: list[Refusal] = []
    for finding in findings:
        if finding.severity != BLOCKING or finding.check not in _FIELD_OF:
            continue
        attribute = _attribute(rules, _FIELD_OF[finding.check])
        out.append(_refusal(finding.check, attribute, finding.detail, checks))
    return out


def _attribute(rules: MappingRules, field: str) -> str:
    rule = rules.fields.get(field)
    if rule is not None and rule.paths:
        return rule.paths[0].text
    return f"the mapping's users.fields.{field} rule"


def _refusal(check: str, attribute: str, detail: str, checks: set[str]) -> Refusal:
    if check == "mobile_missing":
        return Refusal(
            check,
            attribute,
            "DingTalk requires a mobile number and the user has none",
            "give the user a phoneNumbers entry of type mobile in the IdP",
        )
    if check == "mobile_invalid":
        return Refusal(
            check,
            attribute,
            f"DingTalk does not accept the mobile number ({detail})",
            "give the user a valid mobile number in the IdP (11 digits for mainland China, "
            "else +<country code> <number>)",
        )
    limit = USER_FIELDS["name"].limit
    if "name_over_limit" in checks:
        return Refusal(
            check,
            attribute,
            f"DingTalk requires a name and the user's is longer than {limit} characters",
            f"shorten it to {limit} characters in the IdP (the mapping drops longer names)",
        )
    return Refusal(
        check,
        attribute,
        "DingTalk requires a name and the user has none",
        f"give the user a {attribute} in the IdP",
    )
