"""What the mapping engine produces: desired DingTalk departments, users and roles (plain data).

The sync engine codes against these names; keep them stable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

#: The department key of DingTalk's root department (dept_id 1, dingtalk-api.md §4).
ROOT_KEY = "root"
ROOT_DEPT_ID = 1

UPSERT = "upsert"
REMOVE = "remove"
SKIP = "skip"


@dataclass(frozen=True)
class DepartmentSpec:
    """One desired DingTalk department, identified by a bridge-stable key."""

    key: str
    name: str
    parent_key: str | None
    source_identifier: str
    order: int | None = None

    def snapshot(self) -> dict[str, Any]:
        """Return a canonical JSON-able dict; equal desired state ⇔ equal snapshot."""
        return {
            "key": self.key,
            "name": self.name,
            "parent_key": self.parent_key,
            "source_identifier": self.source_identifier,
            "order": self.order,
        }


@dataclass(frozen=True)
class UserProjection:
    """The desired DingTalk state of one SCIM user, or why it has none."""

    scim_id: str
    action: str
    userid: str
    fields: Mapping[str, Any]
    department_keys: tuple[str, ...]
    manager_scim_id: str | None
    role_keys: tuple[str, ...]
    link_by: tuple[tuple[str, str], ...]
    warnings: tuple[str, ...]
    reason: str = ""

    def snapshot(self) -> dict[str, Any]:
        """Return a canonical JSON-able dict; equal desired state ⇔ equal snapshot."""
        # Warnings and the reason explain the state; they are not part of it.
        return {
            "scim_id": self.scim_id,
            "action": self.action,
            "userid": self.userid,
            "fields": _canonical(self.fields),
            "department_keys": list(self.department_keys),
            "manager_scim_id": self.manager_scim_id,
            "role_keys": list(self.role_keys),
            "link_by": [list(pair) for pair in self.link_by],
        }


@dataclass(frozen=True)
class RoleSpec:
    """One desired DingTalk role (dingtalk-api.md §5) inside a role group."""

    key: str
    name: str
    group_name: str

    def snapshot(self) -> dict[str, Any]:
        """Return a canonical JSON-able dict."""
        return {"key": self.key, "name": self.name, "group_name": self.group_name}


@dataclass(frozen=True)
class Projection:
    """The whole desired DingTalk state for a directory under one set of rules."""

    departments: Mapping[str, DepartmentSpec]
    users: Mapping[str, UserProjection]
    roles: Mapping[str, RoleSpec]
    #: DingTalk user fields the rules manage: a managed field absent from a user means "clear it".
    managed_fields: frozenset[str] = frozenset()
    #: What ``plan`` does when link keys point at different DingTalk people (policies.link).
    link_conflict: str = "skip"
    #: Rules fingerprint, so a caller can tell that the mapping changed.
    rules_fingerprint: str = ""


def _canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _canonical(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def frozen_fields(values: Mapping[str, Any]) -> Mapping[str, Any]:
    """Return a read-only copy of a user's fields (the extension map copied too)."""
    out = dict(values)
    if isinstance(out.get("extension"), Mapping):
        out["extension"] = MappingProxyType(dict(out["extension"]))
    return MappingProxyType(out)
