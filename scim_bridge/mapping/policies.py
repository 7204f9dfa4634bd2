"""Policies that decide whether and how a user is projected: scope, leavers, partners."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scim_bridge.mapping.attributes import get_ci, to_bool
from scim_bridge.mapping.model import REMOVE, SKIP, UPSERT
from scim_bridge.mapping.rules import MappingRules
from scim_bridge.scim import filters as scim_filters


@dataclass(frozen=True)
class Decision:
    """Whether a user is projected (upsert), removed or left alone, and why."""

    action: str
    reason: str = ""
    leaver: bool = False


def in_scope(user: Mapping[str, Any], rules: MappingRules) -> bool:
    """Tell whether the scope filter lets a user be projected at all."""
    return rules.scope.filter is None or scim_filters.matches(rules.scope.filter, user)


def is_active(user: Mapping[str, Any]) -> bool:
    """Read SCIM ``active``; absent means active (RFC 7643 §4.1.1 leaves it to the provider)."""
    value = get_ci(user, "active")
    if value is None:
        return True
    converted = to_bool(value)
    return True if converted is None else converted


def decide(user: Mapping[str, Any], rules: MappingRules) -> Decision:
    """Apply the scope filter and the leaver policy to one user."""
    if not in_scope(user, rules):
        reason = f"outside the scope filter ({rules.scope.filter_text})"
        return Decision(REMOVE if rules.scope.action == "remove" else SKIP, reason)
    if is_active(user):
        return Decision(UPSERT)
    action = rules.leavers.action
    if action == "delete":
        return Decision(REMOVE, "deactivated in the IdP (active=false); leaver policy: delete")
    if action == "keep":
        return Decision(SKIP, "deactivated in the IdP (active=false); leaver policy: keep")
    return Decision(
        UPSERT,
        f"deactivated in the IdP (active=false); moved to {rules.leavers.department!r}",
        leaver=True,
    )


def is_partner(user: Mapping[str, Any], rules: MappingRules) -> bool:
    """Tell whether a user is an external partner under the partner policy."""
    pol = rules.partners
    if not pol.enabled:
        return False
    user_type = get_ci(user, "userType")
    if isinstance(user_type, str) and user_type.strip().casefold() in pol.user_types:
        return True
    return pol.filter is not None and scim_filters.matches(pol.filter, user)
