"""Project SCIM users and groups onto desired DingTalk users, departments and roles."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from scim_bridge.mapping import policies
from scim_bridge.mapping.attributes import (
    EXTENSION_MAX,
    USER_FIELDS,
    apply_transforms,
    coerce_field,
    is_empty,
    sanitize_userid,
    template_context,
)
from scim_bridge.mapping.departments import (
    DEFAULT_KEY,
    LEAVERS_KEY,
    PARTNERS_KEY,
    DepartmentResolver,
    DirectoryView,
    InMemoryDirectory,
    base_department_keys,
    group_key,
    group_passes,
    in_tree,
    organization_of,
    subsidiary_key,
    unescape,
    user_group_ids,
)
from scim_bridge.mapping.model import (
    REMOVE,
    ROOT_KEY,
    SKIP,
    UPSERT,
    DepartmentSpec,
    Projection,
    RoleSpec,
    UserProjection,
    frozen_fields,
)
from scim_bridge.mapping.rules import MappingRules, ValueRule
from scim_bridge.scim import filters as scim_filters


@dataclass(frozen=True)
class Issue:
    """Something worth telling about one user's projection; ``code`` is what quality.py counts."""

    code: str
    message: str


@dataclass
class UserResult:
    """A projection plus the coded issues behind its warnings (for the quality report)."""

    projection: UserProjection
    issues: list[Issue] = field(default_factory=list)
    raw_name: str | None = None


def project_user(
    user: Mapping[str, Any], rules: MappingRules, directory: DirectoryView
) -> UserProjection:
    """Return the desired DingTalk state of one SCIM user under the rules."""
    return project_user_detailed(user, rules, directory).projection


def project_user_detailed(
    user: Mapping[str, Any], rules: MappingRules, directory: DirectoryView
) -> UserResult:
    """Project one user and keep the coded issues (used by the quality report)."""
    scim_id = str(user.get("id"))
    issues: list[Issue] = []
    context_cache: list[dict[str, Any]] = []

    def context() -> dict[str, Any]:
        # Built once per user, and only if a template needs it.
        if not context_cache:
            context_cache.append(template_context(user))
        return context_cache[0]

    userid = _userid(user, rules, context)
    decision = policies.decide(user, rules)
    if decision.action in (SKIP, REMOVE):
        return UserResult(
            UserProjection(
                scim_id=scim_id,
                action=decision.action,
                userid=userid,
                fields=frozen_fields({}),
                department_keys=(),
                manager_scim_id=None,
                role_keys=(),
                link_by=(),
                warnings=(),
                reason=decision.reason,
            ),
            issues,
        )

    values: dict[str, Any] = {}
    raw_name: str | None = None
    for name, rule in rules.fields.items():
        value, problem = _evaluate(rule, user, rules, context)
        if name == "name" and value is not None:
            raw_name = str(value)
        if problem:
            code = "mobile_invalid" if name == "mobile" else "field_invalid"
            issues.append(Issue(code, f"{name}: {problem}; left unset"))
            continue
        if value is None:
            continue
        value, warning = coerce_field(name, value, rule.on_overflow)
        if warning:
            issues.append(Issue(f"{name}_over_limit", warning))
        if value is not None:
            values[name] = value

    extension = _extension(user, rules, context, issues)
    if extension:
        values["extension"] = extension

    partner = policies.is_partner(user, rules)
    if partner and rules.partners.hide_mobile:
        values["hide_mobile"] = True

    organization = organization_of(user, rules)
    if organization is not None and rules.subsidiaries.label == "field":
        ext = dict(values.get("extension") or {})
        ext[rules.subsidiaries.field] = organization
        values["extension"] = ext

    keys = _department_keys(
        user,
        rules,
        directory,
        leaver=decision.leaver,
        partner=partner,
        organization=organization,
        issues=issues,
    )
    roles = _role_keys(user, rules, directory, organization)
    manager = _manager(user, rules, directory, context, issues)
    link_by = tuple(
        (key, str(values[key])) for key in rules.link.by if not is_empty(values.get(key))
    )
    return UserResult(
        UserProjection(
            scim_id=scim_id,
            action=UPSERT,
            userid=userid,
            fields=frozen_fields(values),
            department_keys=keys,
            manager_scim_id=manager,
            role_keys=roles,
            link_by=link_by,
            warnings=tuple(i.message for i in issues),
            reason=decision.reason,
        ),
        issues,
        raw_name,
    )


def _userid(user: Mapping[str, Any], rules: MappingRules, context: Any) -> str:
    value, _problem = _evaluate(rules.userid, user, rules, context)
    if is_empty(value):
        value = user.get("id")
    return sanitize_userid(str(value))


def _evaluate(
    rule: ValueRule, user: Mapping[str, Any], rules: MappingRules, context: Any
) -> tuple[Any, str | None]:
    raw = rule.raw(user, context)
    if is_empty(raw):
        return None, None
    if not rule.transforms:
        return raw, None
    return apply_transforms(raw, rule.transforms, rules.phone)


def _extension(
    user: Mapping[str, Any], rules: MappingRules, context: Any, issues: list[Issue]
) -> dict[str, str]:
    out: dict[str, str] = {}
    if rules.extension_from is not None:
        for key, value in _custom_fields(rules.extension_from.values(user)):
            if not is_empty(value):
                out[key] = value if isinstance(value, str) else json.dumps(value)
    for key, rule in rules.extension.items():
        value, problem = _evaluate(rule, user, rules, context)
        if problem:
            issues.append(Issue("field_invalid", f"extension.{key}: {problem}; left unset"))
        elif value is not None:
            out[key] = str(value)
    # dingtalk-api.md §3.1: the extension is JSON text of at most 2000 characters.
    while out and len(json.dumps(out, ensure_ascii=False)) > EXTENSION_MAX:
        dropped = sorted(out)[-1]
        del out[dropped]
        issues.append(
            Issue("extension_over_limit", f"extension.{dropped} dropped: over {EXTENSION_MAX}")
        )
    return out


def _custom_fields(found: list[Any]) -> list[tuple[str, Any]]:
    """Read custom member fields: our schema's name/value pairs (DingTalkUser.json), or a map
    of name to value as some IdP expressions send."""
    pairs: list[tuple[str, Any]] = []
    for item in found:
        if not isinstance(item, Mapping):
            continue
        if set(item) <= {"name", "value"} and "name" in item:
            pairs.append((str(item["name"]), item.get("value")))
        else:
            pairs.extend((str(k), v) for k, v in item.items())
    return pairs


def _department_keys(
    user: Mapping[str, Any],
    rules: MappingRules,
    directory: DirectoryView,
    *,
    leaver: bool,
    partner: bool,
    organization: str | None,
    issues: list[Issue],
) -> tuple[str, ...]:
    if leaver:
        return (LEAVERS_KEY,)
    keys = base_department_keys(user, rules, directory)
    if not keys:
        default = rules.departments.default
        keys = [DEFAULT_KEY if default else ROOT_KEY]
        if rules.departments.strategy != "none":
            where = f"the default department {default!r}" if default else "the root department"
            issues.append(Issue("no_department", f"in no department; placed in {where}"))
    if partner:
        if rules.partners.structure == "flat":
            return (PARTNERS_KEY,)
        keys = [in_tree(PARTNERS_KEY, k) for k in keys]
    elif organization is not None and rules.subsidiaries.label == "prefix":
        keys = [in_tree(subsidiary_key(organization), k) for k in keys]
    return tuple(dict.fromkeys(keys))


def _role_keys(
    user: Mapping[str, Any],
    rules: MappingRules,
    directory: DirectoryView,
    organization: str | None,
) -> tuple[str, ...]:
    keys: list[str] = []
    if rules.roles.enabled:
        for gid in user_group_ids(user, directory):
            group = directory.group(gid)
            if group is not None and role_group_passes(group, rules):
                keys.append(group_key(gid))
    if organization is not None and rules.subsidiaries.label == "role":
        keys.append(subsidiary_key(organization))
    return tuple(sorted(set(keys)))


def role_spec(key: str, rules: MappingRules, directory: DirectoryView) -> RoleSpec | None:
    """Describe the DingTalk role a role key stands for (a SCIM group or a subsidiary)."""
    if key.startswith("sub:"):
        return RoleSpec(key=key, name=unescape(key[4:]), group_name=rules.subsidiaries.role_group)
    if key.startswith("group:"):
        group = directory.group(key[len("group:") :])
        if group is None:
            return None
        name = str(group.get("displayName") or group["id"])
        return RoleSpec(key=key, name=name, group_name=rules.roles.group_name)
    return None


def role_group_passes(group: Mapping[str, Any], rules: MappingRules) -> bool:
    """Tell whether a SCIM group becomes a DingTalk role under the rules."""
    if not rules.roles.enabled:
        return False
    return rules.roles.filter is None or scim_filters.matches(rules.roles.filter, group)


def _manager(
    user: Mapping[str, Any],
    rules: MappingRules,
    directory: DirectoryView,
    context: Any,
    issues: list[Issue],
) -> str | None:
    if rules.manager is None:
        return None
    value, _problem = _evaluate(rules.manager, user, rules, context)
    if is_empty(value):
        return None
    manager_id = str(value)
    if manager_id == str(user.get("id")):
        issues.append(Issue("manager_self", "is their own manager; manager left unset"))
        return None
    manager = directory.user(manager_id)
    # IdP isolation (docs/security.md): another IdP's user is answered exactly as a missing
    # one, word for word, so naming its id neither links the two people nor tells it exists.
    if manager is None or not directory.same_idp(str(user.get("id")), manager_id):
        issues.append(
            Issue("manager_out_of_scope", f"manager {manager_id} is not in the directory")
        )
        return None
    if policies.decide(manager, rules).action != UPSERT:
        issues.append(
            Issue("manager_out_of_scope", f"manager {manager_id} is not projected to DingTalk")
        )
        return None
    return manager_id


def project_directory(
    users: Iterable[Mapping[str, Any]], groups: Iterable[Mapping[str, Any]], rules: MappingRules
) -> Projection:
    """Project a whole directory: every user, and the departments and roles they need."""
    directory = InMemoryDirectory(users, groups)
    results = [project_user_detailed(u, rules, directory) for u in directory.users()]
    return assemble(results, directory, rules)


def assemble(
    results: Iterable[UserResult], directory: InMemoryDirectory, rules: MappingRules
) -> Projection:
    """Build the Projection from projected users (departments on demand, parents first)."""
    return assemble_detailed(results, directory, rules)[0]


def assemble_detailed(
    results: Iterable[UserResult], directory: InMemoryDirectory, rules: MappingRules
) -> tuple[Projection, Mapping[str, list[str]]]:
    """Build the Projection and return the department name warnings too (for quality.py)."""
    resolver = DepartmentResolver(rules, directory)
    # Every department-group is a department, members or not; other departments on demand.
    for group in directory.groups():
        if group_passes(group, rules):
            resolver.ensure(group_key(str(group["id"])))
    role_specs: dict[str, RoleSpec] = {}
    for group in directory.groups():
        if role_group_passes(group, rules):
            key = group_key(str(group["id"]))
            if (spec := role_spec(key, rules, directory)) is not None:
                role_specs[key] = spec
    users: dict[str, UserProjection] = {}
    for result in results:
        user = result.projection
        users[user.scim_id] = user
        for key in user.department_keys:
            resolver.ensure(key)
        for key in user.role_keys:
            if key not in role_specs and (spec := role_spec(key, rules, directory)) is not None:
                role_specs[key] = spec
    departments: dict[str, DepartmentSpec] = dict(resolver.specs)
    projection = Projection(
        departments=departments,
        users=users,
        roles=role_specs,
        managed_fields=managed_fields(rules),
        link_conflict=rules.link.on_conflict,
        rules_fingerprint=rules.fingerprint,
    )
    return projection, resolver.warnings


@dataclass(frozen=True)
class ProjectionChanges:
    """What differs between two projections: exactly what must be re-projected."""

    users: frozenset[str]
    departments: frozenset[str]
    roles: frozenset[str]

    def __bool__(self) -> bool:
        return bool(self.users or self.departments or self.roles)


def changed_resources(old: Projection, new: Projection) -> ProjectionChanges:
    """Return the users, departments and roles whose desired state differs between projections."""

    def diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> frozenset[str]:
        keys = set(a) | set(b)
        return frozenset(
            k
            for k in keys
            if (k in a) != (k in b) or (k in a and a[k].snapshot() != b[k].snapshot())
        )

    return ProjectionChanges(
        users=diff(old.users, new.users),
        departments=diff(old.departments, new.departments),
        roles=diff(old.roles, new.roles),
    )


def managed_fields(rules: MappingRules) -> frozenset[str]:
    """Return the DingTalk user fields the rules manage: one absent from a user is cleared."""
    managed = frozenset(rules.fields) | (
        {"extension"}
        if rules.extension
        or rules.extension_from
        or (rules.subsidiaries.enabled and rules.subsidiaries.label == "field")
        else frozenset()
    )
    if rules.partners.enabled and rules.partners.hide_mobile:
        managed |= {"hide_mobile"}
    return frozenset(f for f in managed if f in USER_FIELDS or f == "extension")
