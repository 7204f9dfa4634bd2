"""Department strategies: SCIM groups or enterprise attributes -> DingTalk department trees.

Department keys describe themselves, so any key can be turned back into its DepartmentSpec and
its ancestors without a database:

* ``root`` — DingTalk's root department (id 1); never created;
* ``group:<scim group id>`` — a SCIM group;
* ``path:<segment>/<segment>…`` — a path built from attribute values (or a name prefix);
* ``default``, ``leavers``, ``partners`` — the policy departments under the root;
* ``sub:<organization>`` — a subsidiary's top department;
* ``<tree>><key>`` — a copy of ``key`` inside the tree ``partners`` or ``sub:<organization>``.

``%``, ``/`` and ``>`` inside ids and names are escaped as ``%25``, ``%2F`` and ``%3E``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from scim_bridge.mapping.attributes import sanitize_department_name
from scim_bridge.mapping.model import ROOT_KEY, DepartmentSpec
from scim_bridge.mapping.rules import MappingRules
from scim_bridge.scim import filters as scim_filters

DEFAULT_KEY = "default"
LEAVERS_KEY = "leavers"
PARTNERS_KEY = "partners"
SOURCE_IDENTIFIER_MAX = 64  # not documented by DingTalk; kept short to be safe


class DirectoryView(Protocol):
    """What the engine reads from the directory besides the user being projected."""

    def user(self, user_id: str) -> Mapping[str, Any] | None:
        """Return a SCIM user by id, or None."""
        ...

    def group(self, group_id: str) -> Mapping[str, Any] | None:
        """Return a SCIM group by id, or None."""
        ...

    def group_by_name(self, display_name: str) -> Mapping[str, Any] | None:
        """Return the SCIM group with this displayName (compared case-insensitively), or None."""
        ...

    def groups_of(self, user_id: str) -> Iterable[str]:
        """Return the ids of the groups that list this user as a direct member."""
        ...

    def parents_of(self, group_id: str) -> Iterable[str]:
        """Return the ids of the groups that list this group as a member."""
        ...

    def same_idp(self, user_id: str, other_id: str) -> bool:
        """Say whether two users belong to the same IdP (docs/security.md, IdP isolation)."""
        ...


class InMemoryDirectory:
    """A DirectoryView over lists of SCIM user and group dicts."""

    def __init__(self, users: Iterable[Mapping[str, Any]], groups: Iterable[Mapping[str, Any]]):
        self._users = {str(u["id"]): u for u in users}
        self._groups = {str(g["id"]): g for g in groups}
        self._by_name: dict[str, Mapping[str, Any]] = {}
        self._user_groups: dict[str, list[str]] = {}
        self._group_parents: dict[str, list[str]] = {}
        for gid, group in self._groups.items():
            name = group.get("displayName")
            if isinstance(name, str):
                self._by_name.setdefault(name.casefold(), group)
            for member in group.get("members") or ():
                value = member.get("value") if isinstance(member, Mapping) else None
                if value is None:
                    continue
                kind = str(member.get("type") or "").casefold()
                if kind == "group" or (not kind and str(value) in self._groups):
                    self._group_parents.setdefault(str(value), []).append(gid)
                else:
                    self._user_groups.setdefault(str(value), []).append(gid)

    def users(self) -> Iterable[Mapping[str, Any]]:
        """Return every user."""
        return self._users.values()

    def groups(self) -> Iterable[Mapping[str, Any]]:
        """Return every group."""
        return self._groups.values()

    def user(self, user_id: str) -> Mapping[str, Any] | None:
        """Return a SCIM user by id, or None."""
        return self._users.get(user_id)

    def group(self, group_id: str) -> Mapping[str, Any] | None:
        """Return a SCIM group by id, or None."""
        return self._groups.get(group_id)

    def group_by_name(self, display_name: str) -> Mapping[str, Any] | None:
        """Return the SCIM group with this displayName, or None."""
        return self._by_name.get(display_name.casefold())

    def groups_of(self, user_id: str) -> Iterable[str]:
        """Return the ids of the groups that list this user as a direct member."""
        return self._user_groups.get(user_id, ())

    def parents_of(self, group_id: str) -> Iterable[str]:
        """Return the ids of the groups that list this group as a member."""
        return self._group_parents.get(group_id, ())

    def same_idp(self, user_id: str, other_id: str) -> bool:
        """Say yes: these documents carry no IdP (a plan or a quality check over one export)."""
        return True


# --- keys -----------------------------------------------------------------------------------


def escape(text: str) -> str:
    """Escape an id or a name for use inside a department key."""
    return text.replace("%", "%25").replace("/", "%2F").replace(">", "%3E")


def unescape(text: str) -> str:
    """Undo :func:`escape`."""
    return text.replace("%3E", ">").replace("%2F", "/").replace("%25", "%")


def group_key(group_id: str) -> str:
    """Return the department key of a SCIM group."""
    return f"group:{escape(str(group_id))}"


def path_key(segments: Iterable[str]) -> str:
    """Return the department key of an attribute path such as Acme/Sales/EMEA."""
    return "path:" + "/".join(escape(s) for s in segments)


def subsidiary_key(organization: str) -> str:
    """Return the key of a subsidiary's top department."""
    return f"sub:{escape(organization)}"


def in_tree(tree: str, key: str) -> str:
    """Return the key of ``key``'s copy inside ``tree`` (the tree's top for root and default)."""
    if key in (ROOT_KEY, DEFAULT_KEY):
        return tree
    return f"{tree}>{key}"


def source_identifier(key: str) -> str:
    """Return the back-reference written to DingTalk for a department key."""
    if len(key) <= SOURCE_IDENTIFIER_MAX:
        return key
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]
    return f"{key[: SOURCE_IDENTIFIER_MAX - 13]}~{digest}"


# --- strategies: a user's own departments ---------------------------------------------------


def group_passes(group: Mapping[str, Any], rules: MappingRules) -> bool:
    """Tell whether a SCIM group becomes a department under the rules."""
    dep = rules.departments
    if dep.strategy != "groups":
        return False
    return dep.group_filter is None or scim_filters.matches(dep.group_filter, group)


def user_group_ids(user: Mapping[str, Any], directory: DirectoryView) -> list[str]:
    """Return the ids of the groups a user is directly in (their ``groups`` and group members)."""
    ids: dict[str, None] = {}
    for ref in user.get("groups") or ():
        if not isinstance(ref, Mapping) or ref.get("value") is None:
            continue
        # RFC 7643 §4.1.2: "indirect" memberships come through a nested group; the nested
        # group's own department already places the user.
        if str(ref.get("type") or "").casefold() == "indirect":
            continue
        ids[str(ref["value"])] = None
    for gid in directory.groups_of(str(user.get("id"))):
        ids[str(gid)] = None
    return list(ids)


def base_department_keys(
    user: Mapping[str, Any], rules: MappingRules, directory: DirectoryView
) -> list[str]:
    """Return the department keys the strategy gives a user (empty: none)."""
    dep = rules.departments
    if dep.strategy == "groups":
        keys = []
        for gid in user_group_ids(user, directory):
            group = directory.group(gid)
            if group is not None and group_passes(group, rules):
                keys.append(group_key(gid))
        return sorted(keys)
    if dep.strategy == "attributes":
        segments = []
        for path in dep.attributes:
            value = path.first(user)
            if value is not None and str(value).strip():
                segments.append(str(value).strip())
        return [path_key(segments)] if segments else []
    return []


# --- chains: a key and its ancestors --------------------------------------------------------


class DepartmentResolver:
    """Turn department keys into DepartmentSpecs (ancestors first), memoised."""

    def __init__(self, rules: MappingRules, directory: DirectoryView) -> None:
        self.rules = rules
        self.directory = directory
        self.specs: dict[str, DepartmentSpec] = {}
        self.warnings: dict[str, list[str]] = {}
        self._cut: set[str] = set()

    def ensure(self, key: str) -> None:
        """Add the spec of ``key`` and of its ancestors, parents before children."""
        pending: list[str] = []
        probe: str | None = key
        guard: set[str] = set()
        while probe is not None and probe != ROOT_KEY and probe not in self.specs:
            if probe in guard:
                # A nesting cycle (A in B, B in A): the last one reached hangs off the root.
                self._cut.add(pending[-1])
                break
            guard.add(probe)
            pending.append(probe)
            probe = self._parent(probe)
        for k in reversed(pending):
            self.specs[k] = self._spec(k)

    def _name(self, key: str, raw: str) -> str:
        name, warnings = sanitize_department_name(
            raw, replacement=self.rules.departments.name_replacement
        )
        if warnings:
            self.warnings[key] = warnings
        return name

    def _spec(self, key: str) -> DepartmentSpec:
        parent = None if key in self._cut else self._parent(key)
        return DepartmentSpec(
            key=key,
            name=self._name(key, self._raw_name(key)),
            parent_key=None if parent in (None, ROOT_KEY) else parent,
            source_identifier=source_identifier(key),
        )

    def _raw_name(self, key: str) -> str:
        if ">" in key:
            return self._raw_name(key.split(">", 1)[1])
        if key == DEFAULT_KEY:
            return self.rules.departments.default or "Default"
        if key == LEAVERS_KEY:
            return self.rules.leavers.department
        if key == PARTNERS_KEY:
            return self.rules.partners.department
        if key.startswith("sub:"):
            return unescape(key[4:])
        if key.startswith("path:"):
            return unescape(key[5:].rsplit("/", maxsplit=1)[-1])
        if key.startswith("group:"):
            group = self.directory.group(unescape(key[6:]))
            name = str(group.get("displayName") or "") if group else ""
            if self.rules.departments.nesting == "separator":
                segments = _segments(name, self.rules.departments.separator)
                name = segments[-1] if segments else name
            return name or unescape(key[6:])
        return key

    def _parent(self, key: str) -> str | None:
        if ">" in key:
            tree, inner = key.split(">", 1)
            parent = self._parent(inner)
            return tree if parent in (None, ROOT_KEY) else in_tree(tree, parent)
        if key in (DEFAULT_KEY, LEAVERS_KEY, PARTNERS_KEY) or key.startswith("sub:"):
            return None
        if key.startswith("path:"):
            segments = [unescape(s) for s in key[5:].split("/")]
            if len(segments) <= 1:
                return None
            if self.rules.departments.nesting == "separator":
                return self._named_parent(segments[:-1])
            return path_key(segments[:-1])
        if key.startswith("group:"):
            return self._group_parent(unescape(key[6:]))
        return None

    def _named_parent(self, segments: list[str]) -> str:
        # Separator nesting: the parent of "Acme/Sales/EMEA" is the group named "Acme/Sales"
        # when there is one, else a department made for the path.
        sep = self.rules.departments.separator
        group = self.directory.group_by_name(sep.join(segments))
        if group is not None and group_passes(group, self.rules):
            return group_key(str(group["id"]))
        return path_key(segments)

    def _group_parent(self, group_id: str) -> str | None:
        dep = self.rules.departments
        group = self.directory.group(group_id)
        if group is None or dep.nesting == "flat":
            return None
        if dep.nesting == "separator":
            segments = _segments(str(group.get("displayName") or ""), dep.separator)
            return self._named_parent(segments[:-1]) if len(segments) > 1 else None
        if dep.nesting == "attribute" and dep.parent_attribute is not None:
            value = dep.parent_attribute.first(group)
            if value is None:
                return None
            parent = self.directory.group(str(value)) or self.directory.group_by_name(str(value))
        else:  # members: RFC 7643 nested groups
            parents = sorted(str(p) for p in self.directory.parents_of(group_id))
            parent = next(
                (
                    g
                    for p in parents
                    if (g := self.directory.group(p)) is not None and group_passes(g, self.rules)
                ),
                None,
            )
        if parent is None or str(parent.get("id")) == group_id:
            return None
        if not group_passes(parent, self.rules):
            return None
        return group_key(str(parent["id"]))


def _segments(name: str, separator: str) -> list[str]:
    return [s.strip() for s in name.split(separator) if s.strip()]


def organization_of(user: Mapping[str, Any], rules: MappingRules) -> str | None:
    """Return the user's subsidiary (organization) when it is not the primary company."""
    subs = rules.subsidiaries
    if not subs.enabled or subs.attribute is None:
        return None
    value = subs.attribute.first(user)
    if value is None:
        return None
    org = str(value).strip()
    return None if not org or org.casefold() in subs.primary else org
