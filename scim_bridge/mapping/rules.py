"""Load and validate the mapping rules file (YAML, checked against mapping.schema.json)."""

from __future__ import annotations

import hashlib
import json
import pathlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import jsonschema
import yaml

from scim_bridge.errors import ConfigError
from scim_bridge.mapping.attributes import (
    TRANSFORMS,
    USER_FIELDS,
    AttrPath,
    PhoneRules,
    RuleError,
    ValueRule,
    compile_filter,
    compile_path,
    compile_template,
    did_you_mean,
    sanitize_department_name,
)
from scim_bridge.settings import Settings

SCHEMA_RESOURCE = "mapping.schema.json"
DEFAULT_RESOURCE = "mapping.default.yaml"

Key = tuple[str | int, ...]


# --- the compiled rules ---------------------------------------------------------------------


@dataclass(frozen=True)
class DepartmentRules:
    """How users are placed in departments (``departments:``)."""

    strategy: str = "groups"
    group_filter: Any = None
    nesting: str = "flat"
    separator: str = "/"
    parent_attribute: AttrPath | None = None
    attributes: tuple[AttrPath, ...] = ()
    default: str | None = None
    name_replacement: str = " "


@dataclass(frozen=True)
class RoleRules:
    """Which SCIM groups become DingTalk roles (``roles:``)."""

    enabled: bool = False
    filter: Any = None
    group_name: str = "SCIM"


@dataclass(frozen=True)
class LeaverPolicy:
    """What happens to users with active=false."""

    action: str = "delete"
    department: str = "Leavers"


@dataclass(frozen=True)
class ScopePolicy:
    """Who is projected at all."""

    filter: Any = None
    filter_text: str = ""
    action: str = "skip"


@dataclass(frozen=True)
class PartnerPolicy:
    """External partners: their own department tree, mobile hidden."""

    enabled: bool = False
    user_types: frozenset[str] = frozenset()
    filter: Any = None
    department: str = "Partners"
    hide_mobile: bool = True
    structure: str = "mirror"


@dataclass(frozen=True)
class SubsidiaryPolicy:
    """Subsidiaries labelled by a department prefix, a role or a custom field."""

    enabled: bool = False
    attribute: AttrPath | None = None
    primary: frozenset[str] = frozenset()
    label: str = "prefix"
    field: str = "company"
    role_group: str = "Subsidiaries"


@dataclass(frozen=True)
class LinkPolicy:
    """Linking SCIM users to people already in DingTalk."""

    by: tuple[str, ...] = ()
    on_conflict: str = "skip"


@dataclass(frozen=True)
class GuardRules:
    """The mass-change guard (see guard.py)."""

    enabled: bool = True
    max_removal_percent: float = 20.0
    window_minutes: int = 60
    min_removals: int = 10


@dataclass(frozen=True)
class ReconcilePolicy:
    """What reconcile does with people in DingTalk no SCIM user holds (issue 10)."""

    orphans: str = "report"  # report | adopt | remove (remove: through the mass-change guard)
    match: str = "mobile"  # adopt by: mobile | email | job_number


@dataclass(frozen=True)
class MappingRules:
    """A validated, compiled mapping file."""

    source: str
    fingerprint: str
    raw: Mapping[str, Any]
    userid: ValueRule
    fields: Mapping[str, ValueRule]
    phone: PhoneRules = field(default_factory=PhoneRules)
    extension: Mapping[str, ValueRule] = field(default_factory=dict)
    extension_from: AttrPath | None = None
    manager: ValueRule | None = None
    departments: DepartmentRules = field(default_factory=DepartmentRules)
    roles: RoleRules = field(default_factory=RoleRules)
    leavers: LeaverPolicy = field(default_factory=LeaverPolicy)
    scope: ScopePolicy = field(default_factory=ScopePolicy)
    partners: PartnerPolicy = field(default_factory=PartnerPolicy)
    subsidiaries: SubsidiaryPolicy = field(default_factory=SubsidiaryPolicy)
    link: LinkPolicy = field(default_factory=LinkPolicy)
    guard: GuardRules = field(default_factory=GuardRules)
    reconcile: ReconcilePolicy = field(default_factory=ReconcilePolicy)


# --- public API -----------------------------------------------------------------------------


def default_rules_path() -> pathlib.Path:
    """Return the path of the default mapping file shipped inside the package."""
    ref = resources.files("scim_bridge").joinpath("schemas", DEFAULT_RESOURCE)
    return pathlib.Path(str(ref))


def rules_path(settings: Settings) -> pathlib.Path:
    """Return the mapping file the settings name, or the packaged default."""
    return pathlib.Path(settings.mapping_file) if settings.mapping_file else default_rules_path()


def load_rules(path: str | pathlib.Path) -> MappingRules:
    """Read, validate and compile a mapping file; raise ConfigError naming file:line, key, fix."""
    path = pathlib.Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"mapping file {path} does not exist; fix SCIM_BRIDGE_MAPPING_FILE or unset it "
            "to use the default mapping"
        ) from None
    except OSError as exc:
        raise ConfigError(f"mapping file {path} cannot be read: {exc.strerror}") from None
    return parse_rules(text, source=str(path))


def parse_rules(text: str, *, source: str = "<string>") -> MappingRules:
    """Validate and compile mapping rules given as YAML text."""
    rules, problems = _compile(text, source)
    if problems or rules is None:
        raise ConfigError("\n".join(problems))
    return rules


def check_rules_file(path: str | pathlib.Path) -> list[str]:
    """Return every problem in a mapping file as a human message; empty means it is valid."""
    path = pathlib.Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return [f"{path}: cannot be read: {exc.strerror}"]
    return _compile(text, str(path))[1]


@lru_cache(maxsize=1)
def mapping_schema() -> dict[str, Any]:
    """Return the JSON Schema of mapping files."""
    ref = resources.files("scim_bridge").joinpath("schemas", SCHEMA_RESOURCE)
    schema: dict[str, Any] = json.loads(ref.read_text(encoding="utf-8"))
    return schema


# --- YAML with line numbers -----------------------------------------------------------------


class _Lines:
    """Line numbers of every key and value in a YAML document, by key path."""

    def __init__(self) -> None:
        self.key_line: dict[Key, int] = {}
        self.value_line: dict[Key, int] = {}
        self.duplicates: list[tuple[Key, int]] = []

    def walk(self, node: yaml.Node, path: Key) -> None:
        self.value_line[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = str(key_node.value)
                sub = (*path, key)
                if key in seen:
                    self.duplicates.append((sub, key_node.start_mark.line + 1))
                seen.add(key)
                self.key_line[sub] = key_node.start_mark.line + 1
                self.walk(value_node, sub)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.key_line[(*path, i)] = item.start_mark.line + 1
                self.walk(item, (*path, i))

    def line(self, path: Key, *, key: bool = False) -> int:
        """Return the best line for a key path (the nearest ancestor's when unknown)."""
        probe = path
        while True:
            table = self.key_line if key else self.value_line
            if probe in table:
                return table[probe]
            if probe in self.key_line:
                return self.key_line[probe]
            if not probe:
                return 1
            probe = probe[:-1]


def _dotted(path: Key) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


class _Problems:
    def __init__(self, source: str, lines: _Lines) -> None:
        self.source = source
        self.lines = lines
        self.items: list[tuple[int, str]] = []

    def add(self, path: Key, message: str, *, key: bool = False) -> None:
        line = self.lines.line(path, key=key)
        self.items.append((line, f"{self.source}:{line}: {_dotted(path)}: {message}"))

    def sorted(self) -> list[str]:
        seen: set[str] = set()
        out = []
        for _, msg in sorted(self.items, key=lambda item: item[0]):
            if msg not in seen:
                seen.add(msg)
                out.append(msg)
        return out


def _compile(text: str, source: str) -> tuple[MappingRules | None, list[str]]:
    name = pathlib.Path(source).name if source != "<string>" else source
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        return None, [f"{name}:{line}: invalid YAML: {problem}; fix the syntax at this line"]
    lines = _Lines()
    if node is not None:
        lines.walk(node, ())
    problems = _Problems(name, lines)
    for path, _line in lines.duplicates:
        problems.add(path, "duplicate key; keep only one", key=True)
    if not isinstance(data, dict):
        problems.add((), "the mapping file must be a YAML mapping starting with 'version: 1'")
        return None, problems.sorted()
    _schema_problems(data, problems)
    if problems.items:
        return None, problems.sorted()
    rules = _build(data, name, problems)
    if problems.items:
        return None, problems.sorted()
    return rules, []


# --- structure (JSON Schema) ----------------------------------------------------------------


def _schema_problems(data: dict[str, Any], problems: _Problems) -> None:
    schema = mapping_schema()
    validator = jsonschema.Draft202012Validator(schema)
    for error in validator.iter_errors(data):
        _explain(error, problems)


def _type_names(types: Any) -> str:
    names = {
        "string": "text",
        "object": "a mapping of keys",
        "array": "a list",
        "boolean": "true or false",
        "number": "a number",
        "integer": "a whole number",
        "null": "null",
    }
    if isinstance(types, str):
        types = [types]
    return " or ".join(names.get(t, t) for t in types)


def _explain(error: jsonschema.ValidationError, problems: _Problems) -> None:
    path: Key = tuple(error.absolute_path)
    kind = error.validator
    schema: Any = error.schema
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(schema.get("properties", {}))
        for extra in error.instance:
            if extra in allowed:
                continue
            hint = did_you_mean(str(extra), allowed)
            if not hint:
                hint = f"; allowed keys are: {', '.join(sorted(allowed))}" if allowed else ""
            problems.add((*path, str(extra)), f"unknown key{hint}", key=True)
    elif kind == "required":
        missing = str(error.message).split("'")[1] if "'" in error.message else error.message
        problems.add(path, f"missing required key {missing!r}; add it", key=True)
    elif kind == "enum":
        choices = [str(v) for v in error.validator_value]  # type: ignore[union-attr]
        hint = did_you_mean(str(error.instance), choices) or f"; use one of: {', '.join(choices)}"
        problems.add(path, f"{error.instance!r} is not allowed{hint}")
    elif kind == "const":
        problems.add(path, f"must be {error.validator_value!r}")
    elif kind == "type":
        problems.add(
            path,
            f"must be {_type_names(error.validator_value)}, not {_yaml_kind(error.instance)}",
        )
    elif kind in ("minLength", "minItems") and error.validator_value == 1:
        problems.add(path, "must not be empty")
    elif kind == "maxLength":
        problems.add(path, f"must be at most {error.validator_value} characters")
    elif kind == "pattern" and path[-1:] == ("default_region",):
        problems.add(path, f"{error.instance!r} is not a region; use a code like CN, US or HK")
    elif kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        problems.add(path, f"{error.message}; change the value")
    else:
        problems.add(path, f"{error.message}")


def _yaml_kind(value: Any) -> str:
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int | float):
        return f"the number {value}"
    return f"the text {value!r}"


# --- meaning (compile paths, filters and templates) ------------------------------------------


def _build(data: dict[str, Any], source: str, problems: _Problems) -> MappingRules:
    def path_of(key: Key, text: str) -> AttrPath | None:
        try:
            return compile_path(text)
        except RuleError as exc:
            problems.add(key, f"bad attribute path {text!r}: {exc}")
            return None

    def filter_of(key: Key, text: str | None) -> Any:
        if not text:
            return None
        try:
            return compile_filter(text)
        except RuleError as exc:
            problems.add(key, f"bad SCIM filter: {exc}; see RFC 7644 §3.4.2.2")
            return None

    def value_rule(key: Key, raw: Any) -> ValueRule:
        if isinstance(raw, str):
            raw = {"from": raw}
        from_raw = raw.get("from", [])
        if isinstance(from_raw, str):
            sources = [((*key, "from"), from_raw)]
        else:
            sources = [((*key, "from", i), text) for i, text in enumerate(from_raw)]
        paths = [p for where, text in sources if (p := path_of(where, text)) is not None]
        template = None
        if "template" in raw:
            try:
                template = compile_template(raw["template"])
            except RuleError as exc:
                problems.add((*key, "template"), f"{exc}")
        transforms = raw.get("transform", [])
        transforms = [transforms] if isinstance(transforms, str) else list(transforms)
        for i, name in enumerate(transforms):
            if name not in TRANSFORMS:
                where = (
                    (*key, "transform")
                    if isinstance(raw["transform"], str)
                    else (*key, "transform", i)
                )
                problems.add(
                    where,
                    f"unknown transform {name!r}{did_you_mean(name, TRANSFORMS)}; "
                    f"use one of: {', '.join(TRANSFORMS)}",
                )
        if not ({"from", "template", "constant"} & set(raw)):
            problems.add(key, "a rule needs 'from', 'template' or 'constant'", key=True)
        return ValueRule(
            paths=tuple(paths),
            template=template,
            template_text=str(raw.get("template", "")),
            constant=raw.get("constant"),
            transforms=tuple(t for t in transforms if t in TRANSFORMS),
            on_overflow=raw.get("on_overflow"),
        )

    phone_raw = data.get("phone") or {}
    phone = PhoneRules(
        default_region=phone_raw.get("default_region", "CN"),
        mainland_format=phone_raw.get("mainland_format", "national"),
    )
    import phonenumbers

    if phone.default_region not in phonenumbers.SUPPORTED_REGIONS:
        problems.add(
            ("phone", "default_region"),
            f"{phone.default_region!r} is not a region phonenumbers knows; use e.g. CN",
        )

    users = data["users"]
    userid = value_rule(("users", "userid"), users.get("userid") or {"from": ["externalId", "id"]})
    fields = {
        name: value_rule(("users", "fields", name), raw)
        for name, raw in users["fields"].items()
        if raw is not None
    }
    for name in fields:
        assert name in USER_FIELDS  # the schema lists exactly USER_FIELDS
    extension = {
        name: value_rule(("users", "extension", name), raw)
        for name, raw in (users.get("extension") or {}).items()
    }
    ext_from = users.get("extension_from")
    extension_from = path_of(("users", "extension_from"), ext_from) if ext_from else None
    manager = value_rule(("users", "manager"), users["manager"]) if users.get("manager") else None

    dep = data.get("departments") or {}
    groups_raw = dep.get("groups") or {}
    nesting = groups_raw.get("nesting", "flat")
    parent_attr = groups_raw.get("parent_attribute")
    if nesting == "attribute" and not parent_attr:
        problems.add(
            ("departments", "groups", "nesting"),
            "nesting 'attribute' needs departments.groups.parent_attribute; add it",
        )
    strategy = dep.get("strategy", "groups")
    attr_texts = dep.get("attributes") or []
    if strategy == "attributes" and not attr_texts:
        attr_texts = [
            "enterprise:organization",
            "enterprise:division",
            "enterprise:department",
        ]
    departments = DepartmentRules(
        strategy=strategy,
        group_filter=filter_of(("departments", "groups", "filter"), groups_raw.get("filter")),
        nesting=nesting,
        separator=groups_raw.get("separator", "/"),
        parent_attribute=(
            path_of(("departments", "groups", "parent_attribute"), parent_attr)
            if parent_attr
            else None
        ),
        attributes=tuple(
            p
            for i, t in enumerate(attr_texts)
            if (p := path_of(("departments", "attributes", i), t)) is not None
        ),
        default=_dept_name(dep.get("default"), ("departments", "default"), problems),
        name_replacement=dep.get("name_replacement", " "),
    )

    roles_raw = data.get("roles") or {}
    roles = RoleRules(
        enabled=bool(roles_raw.get("enabled", False)),
        filter=filter_of(("roles", "filter"), roles_raw.get("filter")),
        group_name=roles_raw.get("group_name", "SCIM"),
    )

    pol = data.get("policies") or {}
    leavers_raw = pol.get("leavers") or {}
    leavers = LeaverPolicy(
        action=leavers_raw.get("action", "delete"),
        department=_dept_name(
            leavers_raw.get("department", "Leavers"),
            ("policies", "leavers", "department"),
            problems,
        )
        or "Leavers",
    )
    scope_raw = pol.get("scope") or {}
    scope = ScopePolicy(
        filter=filter_of(("policies", "scope", "filter"), scope_raw.get("filter")),
        filter_text=scope_raw.get("filter") or "",
        action=scope_raw.get("action", "skip"),
    )
    partners_raw = pol.get("partners") or {}
    partners = PartnerPolicy(
        enabled=bool(partners_raw.get("enabled", False)),
        user_types=frozenset(t.casefold() for t in partners_raw.get("user_types", [])),
        filter=filter_of(("policies", "partners", "filter"), partners_raw.get("filter")),
        department=_dept_name(
            partners_raw.get("department", "Partners"),
            ("policies", "partners", "department"),
            problems,
        )
        or "Partners",
        hide_mobile=bool(partners_raw.get("hide_mobile", True)),
        structure=partners_raw.get("structure", "mirror"),
    )
    if partners.enabled and not partners.user_types and partners.filter is None:
        problems.add(
            ("policies", "partners"),
            "partners are enabled but nothing picks them; add 'user_types' or 'filter'",
            key=True,
        )
    subs_raw = pol.get("subsidiaries") or {}
    subsidiaries = SubsidiaryPolicy(
        enabled=bool(subs_raw.get("enabled", False)),
        attribute=path_of(
            ("policies", "subsidiaries", "attribute"),
            subs_raw.get("attribute", "enterprise:organization"),
        ),
        primary=frozenset(p.casefold() for p in subs_raw.get("primary", [])),
        label=subs_raw.get("label", "prefix"),
        field=subs_raw.get("field", "company"),
        role_group=subs_raw.get("role_group", "Subsidiaries"),
    )
    link_raw = pol.get("link") or {}
    link = LinkPolicy(
        by=tuple(link_raw.get("by", [])), on_conflict=link_raw.get("on_conflict", "skip")
    )
    guard_raw = data.get("guard") or {}
    guard = GuardRules(
        enabled=bool(guard_raw.get("enabled", True)),
        max_removal_percent=float(guard_raw.get("max_removal_percent", 20)),
        window_minutes=int(guard_raw.get("window_minutes", 60)),
        min_removals=int(guard_raw.get("min_removals", 10)),
    )
    reconcile_raw = data.get("reconcile") or {}
    reconcile = ReconcilePolicy(
        orphans=reconcile_raw.get("orphans", "report"), match=reconcile_raw.get("match", "mobile")
    )
    fingerprint = hashlib.sha256(
        json.dumps(data, sort_keys=True, default=str).encode("utf-8")
    ).hexdigest()[:16]
    return MappingRules(
        source=source,
        fingerprint=fingerprint,
        raw=data,
        userid=userid,
        fields=fields,
        phone=phone,
        extension=extension,
        extension_from=extension_from,
        manager=manager,
        departments=departments,
        roles=roles,
        leavers=leavers,
        scope=scope,
        partners=partners,
        subsidiaries=subsidiaries,
        link=link,
        guard=guard,
        reconcile=reconcile,
    )


def _dept_name(raw: str | None, key: Key, problems: _Problems) -> str | None:
    if raw is None:
        return None
    name, warnings = sanitize_department_name(raw)
    if warnings:
        problems.add(key, f"{raw!r} is not a valid DingTalk department name; use {name!r}")
    return name
