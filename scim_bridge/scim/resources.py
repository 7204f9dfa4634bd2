"""SCIM resources as plain dicts: normalise what clients send, PUT semantics, projection.

The canonical stored form of a User or Group is a dict whose attribute and sub-attribute names
have their schema spelling, with extension attributes nested under the extension's URN key and
``schemas`` listing the core URN plus the extensions present. Nothing here touches a database.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scim_bridge.errors import InvalidSyntax, InvalidValue, Mutability
from scim_bridge.scim.filters import parse_datetime
from scim_bridge.scim.schema import ENTERPRISE_USER, Attribute, ResourceType, Schema


@dataclass(frozen=True)
class Compat:
    """Per-IdP tolerance switches the HTTP layer chooses (scim-idp-notes.md §2)."""

    #: Entra sends enterprise attributes at the root (``"department"``, ``"manager"``).
    flat_enterprise: bool = False
    #: Quote unquoted filter values (``externalId eq jyoung``) before parsing.
    lenient_filters: bool = False


DEFAULT_COMPAT = Compat()

# --- the common attributes (RFC 7643 §3.1), which no schema document defines ------------------


def _meta_subs() -> dict[str, Attribute]:
    subs = [
        Attribute("resourceType", "string", case_exact=True, mutability="readOnly"),
        Attribute("created", "dateTime", mutability="readOnly"),
        Attribute("lastModified", "dateTime", mutability="readOnly"),
        Attribute("location", "reference", case_exact=True, mutability="readOnly"),
        Attribute("version", "string", case_exact=True, mutability="readOnly"),
    ]
    return {a.name.lower(): a for a in subs}


ID = Attribute(
    "id", "string", case_exact=True, mutability="readOnly", returned="always", uniqueness="server"
)
EXTERNAL_ID = Attribute("externalId", "string", case_exact=True)
# RFC 7643 §3.1 leaves meta's "returned" to us; we return it by default (excludable).
META = Attribute("meta", "complex", mutability="readOnly", sub_attributes=_meta_subs())
COMMON: Mapping[str, Attribute] = {a.name.lower(): a for a in (ID, EXTERNAL_ID, META)}


def resolve_attribute(
    rt: ResourceType, name: str, urn: str | None = None
) -> tuple[Schema, Attribute] | None:
    """Find an attribute (any case) in the core schema, its common attributes, or an extension."""
    key = (name.lower(), urn.lower() if urn else None)
    found: tuple[Schema, Attribute] | None = rt.resolved.get(key)
    if found is not None:
        return found
    schema = rt.schema_for(urn)
    if schema is None:
        return None
    common = COMMON.get(key[0]) if schema is rt.core else None
    found = (schema, common) if common is not None else rt.resolve(name, schema.id)
    if found is not None:
        rt.resolved[key] = found
    return found


def resolve_unqualified(
    rt: ResourceType, name: str, *, any_extension: bool, flat_enterprise: bool
) -> tuple[Schema, Attribute] | None:
    """Resolve a name without URN: core first, then the extensions the caller allows."""
    found = resolve_attribute(rt, name)
    if found is not None:
        return found
    candidates = []
    for ext in rt.extensions:
        if any_extension or (flat_enterprise and ext.id == ENTERPRISE_USER):
            attr = ext.attribute(name)
            if attr is not None:
                candidates.append((ext, attr))
    # Only an unambiguous match: two extensions defining the name would be a guess.
    return candidates[0] if len(candidates) == 1 else None


@dataclass(frozen=True)
class AttrName:
    """A resolved attribute notation (RFC 7644 §3.10): schema, attribute, optional sub-attribute.

    ``attr`` is None when the notation names a whole schema (``urn:…:enterprise:2.0:User``).
    """

    schema: Schema
    attr: Attribute | None
    sub: Attribute | None = None


def resolve_name(
    rt: ResourceType, text: str, *, flat_enterprise: bool = False, any_extension: bool = False
) -> AttrName | None:
    """Resolve ``attr``, ``attr.sub``, ``urn:…:attr[.sub]`` or a schema URN; None if unknown."""
    text = text.strip()
    whole = rt.schema_for(text) if text[:4].lower() == "urn:" else None
    if whole is not None:
        return AttrName(whole, None)
    if text[:4].lower() == "urn:":
        prefix, sep, rest = text.rpartition(":")
        schema = rt.schema_for(prefix) if sep else None
        if schema is None:
            return None
        head, _, sub_name = rest.partition(".")
        found = resolve_attribute(rt, head, schema.id)
    else:
        head, _, sub_name = text.partition(".")
        found = resolve_unqualified(
            rt, head, any_extension=any_extension, flat_enterprise=flat_enterprise
        )
    if found is None:
        return None
    schema, attr = found
    if not sub_name:
        return AttrName(schema, attr)
    sub = attr.sub(sub_name)
    return AttrName(schema, attr, sub) if sub is not None else None


# --- dict helpers ----------------------------------------------------------------------------


def find_key(obj: Mapping[str, Any], name: str) -> str | None:
    """Return the key of ``obj`` equal to ``name`` ignoring case (RFC 7643 §2.1), or None."""
    if name in obj:
        return name
    low = name.lower()
    for key in obj:
        if isinstance(key, str) and key.lower() == low:
            return key
    return None


def get_ci(obj: Mapping[str, Any], name: str) -> Any:
    """Return ``obj[name]`` matching the key case-insensitively, or None."""
    key = find_key(obj, name)
    return None if key is None else obj[key]


def is_empty(value: Any) -> bool:
    """Return whether a value is unassigned: null, [] or {} (RFC 7643 §2.5)."""
    return value is None or (isinstance(value, list | dict) and not value)


def with_schemas(rt: ResourceType, resource: Mapping[str, Any]) -> dict[str, Any]:
    """Return the resource with ``schemas`` = core URN + the extensions present, first."""
    body = {k: v for k, v in resource.items() if k != "schemas"}
    for ext in rt.extensions:
        key = find_key(body, ext.id)
        if key is not None and is_empty(body[key]):
            del body[key]
    present = [ext.id for ext in rt.extensions if ext.id in body]
    return {"schemas": [rt.core.id, *present], **body}


# --- value coercion (RFC 7643 §2.3) -------------------------------------------------------------


def coerce(attr: Attribute, value: Any, *, where: str, keep_read_only: bool = False) -> Any:
    """Coerce a client value to the attribute's type; None when it amounts to no value."""
    if value is None:
        return None
    if attr.multi_valued:
        items = value if isinstance(value, list) else [value]  # one object where a list belongs
        out: list[Any] = []
        for item in items:
            v = coerce_element(attr, item, where=where, keep_read_only=keep_read_only)
            if v is not None and v not in out:
                out.append(v)
        if attr.is_complex:
            keep_first_primary(out)
        return out or None
    if isinstance(value, list):
        # Entra sends single-valued complex values as one-element lists (manager).
        if not value:
            return None
        if len(value) > 1:
            raise InvalidValue(f"{where} is single-valued; got {len(value)} values")
        value = value[0]
    return coerce_element(attr, value, where=where, keep_read_only=keep_read_only)


def coerce_element(attr: Attribute, value: Any, *, where: str, keep_read_only: bool = False) -> Any:
    """Coerce one value (one element, for a multi-valued attribute) to the attribute's type."""
    if value is None:
        return None
    if attr.is_complex:
        return _coerce_complex(attr, value, where=where, keep_read_only=keep_read_only)
    return _coerce_simple(attr, value, where=where)


def _coerce_complex(attr: Attribute, value: Any, *, where: str, keep_read_only: bool) -> Any:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, raw in value.items():
            sub = attr.sub(key) if isinstance(key, str) else None
            if sub is None:
                continue  # unknown sub-attributes are ignored, as unknown attributes are
            if sub.mutability == "readOnly" and not keep_read_only:
                continue  # RFC 7644 §3.3: readOnly values in a request SHALL be ignored
            v = coerce(sub, raw, where=f"{where}.{sub.name}", keep_read_only=keep_read_only)
            if v is not None:
                out[sub.name] = v
        return out or None
    value_sub = attr.sub("value")
    if (
        value_sub is not None
        and isinstance(value, str | int | float)
        and not isinstance(value, bool)
    ):
        # A bare "271" for manager, or a bare member id: shorthand for {"value": ...}.
        return {value_sub.name: _coerce_simple(value_sub, value, where=f"{where}.value")}
    raise InvalidValue(f"{where} must be an object")


_TRUE_FALSE = {"true": True, "false": False}


def _coerce_simple(attr: Attribute, value: Any, *, where: str) -> Any:
    kind = attr.type
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE_FALSE:
            return _TRUE_FALSE[value.strip().lower()]  # Entra: "active": "True"
        raise InvalidValue(f"{where} must be a boolean, not {value!r}")
    if kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise InvalidValue(f"{where} must be an integer, not {value!r}")
    if kind == "decimal":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                number = float("nan")
            if math.isfinite(number):
                return number
        raise InvalidValue(f"{where} must be a decimal number, not {value!r}")
    if kind == "dateTime":
        if isinstance(value, str) and parse_datetime(value) is not None:
            return value
        raise InvalidValue(f"{where} must be an xsd:dateTime (RFC 7643 §2.3.5), not {value!r}")
    if kind == "complex":
        raise InvalidValue(f"{where} must be an object")
    # string, reference, binary
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # a number where a string belongs: keep its text
    raise InvalidValue(f"{where} must be a string, not {value!r}")


def keep_first_primary(items: list[Any]) -> None:
    """Leave at most one element with primary true, the first (RFC 7643 §2.4)."""
    seen = False
    for item in items:
        if isinstance(item, dict) and item.get("primary") is True:
            if seen:
                item["primary"] = False
            seen = True


# --- normalize / require ---------------------------------------------------------------------


def normalize(
    rt: ResourceType, body: Mapping[str, Any], *, compat: Compat = DEFAULT_COMPAT
) -> dict[str, Any]:
    """Turn a client's User/Group body into the canonical stored form."""
    if not isinstance(body, Mapping):
        raise InvalidSyntax(f"a {rt.name} must be a JSON object")
    out: dict[str, Any] = {}
    flat: list[tuple[Schema, Attribute, Any]] = []
    for key, raw in body.items():
        if not isinstance(key, str) or key.lower() == "schemas":
            # RFC 7643 §3: schemas is recomputed from what is present, so unknown or
            # misspelled URNs there (Entra's "…enterprise:2.0User") do no harm.
            continue
        schema = rt.schema_for(key) if key[:4].lower() == "urn:" else None
        if schema is not None:
            if raw is None:
                continue
            if not isinstance(raw, Mapping):
                raise InvalidValue(f"{schema.id} must be an object")
            for sub_key, sub_raw in raw.items():
                if isinstance(sub_key, str):
                    name = resolve_name(rt, f"{schema.id}:{sub_key}")
                    if name is not None:
                        _put(rt, out, name, sub_raw)
            continue
        name = resolve_name(rt, key)
        if name is None and compat.flat_enterprise and key[:4].lower() != "urn:":
            flat_name = resolve_name(rt, key, flat_enterprise=True)
            if flat_name is not None and flat_name.attr is not None:
                flat.append((flat_name.schema, flat_name.attr, raw))
            continue
        if name is not None:
            _put(rt, out, name, raw)  # unknown attributes (Entra's "adreses") are dropped
    for schema, attr, raw in flat:
        # Entra's root-level enterprise attributes; a nested value for the same name wins.
        if attr.name not in out.get(schema.id, {}):
            _put(rt, out, AttrName(schema, attr), raw)
    return with_schemas(rt, out)


def _put(rt: ResourceType, out: dict[str, Any], name: AttrName, raw: Any) -> None:
    """Coerce and store one client value under its canonical place in ``out``."""
    attr = name.attr
    if attr is None or attr.mutability == "readOnly":
        return  # RFC 7644 §3.3: readOnly attributes in a request SHALL be ignored
    container = out if name.schema is rt.core else out.setdefault(name.schema.id, {})
    where = attr.name
    if name.sub is not None:
        if name.sub.mutability == "readOnly" or attr.multi_valued:
            return
        v = coerce(name.sub, raw, where=f"{where}.{name.sub.name}")
        if v is not None:
            container.setdefault(attr.name, {})[name.sub.name] = v
        return
    v = coerce(attr, raw, where=where)
    if v is None:
        return
    if attr.is_complex and not attr.multi_valued and isinstance(container.get(attr.name), dict):
        container[attr.name].update(v)  # "name" after "name.givenName": merge
    else:
        container[attr.name] = v


def require(rt: ResourceType, resource: Mapping[str, Any]) -> None:
    """Raise InvalidValue naming the first required attribute the resource lacks."""
    for schema in (rt.core, *rt.extensions):
        container: Any = resource if schema is rt.core else get_ci(resource, schema.id)
        if schema is not rt.core and not isinstance(container, Mapping):
            continue  # an absent extension has no required attributes to miss
        for attr in schema.attributes.values():
            if not attr.required:
                continue
            value = get_ci(container, attr.name)
            if is_empty(value) or (isinstance(value, str) and not value.strip()):
                raise InvalidValue(f"{attr.name} is required")


# --- PUT (RFC 7644 §3.5.1) ---------------------------------------------------------------------


def replace(
    rt: ResourceType, current: Mapping[str, Any], incoming: Mapping[str, Any]
) -> dict[str, Any]:
    """Apply PUT semantics: ``incoming`` (normalised) replaces ``current``, mutability kept."""
    result = copy.deepcopy(dict(incoming))
    for schema in (rt.core, *rt.extensions):
        attrs: Iterable[Attribute] = schema.attributes.values()
        if schema is rt.core:
            attrs = [*COMMON.values(), *attrs]
        for attr in attrs:
            _replace_attribute(rt, schema, attr, current, result)
    return with_schemas(rt, result)


def _container_of(
    rt: ResourceType, schema: Schema, resource: dict[str, Any], *, create: bool
) -> dict[str, Any] | None:
    if schema is rt.core:
        return resource
    key = find_key(resource, schema.id)
    if key is None:
        if not create:
            return None
        resource[schema.id] = {}
        key = schema.id
    value = resource[key]
    return value if isinstance(value, dict) else None


def _replace_attribute(
    rt: ResourceType,
    schema: Schema,
    attr: Attribute,
    current: Mapping[str, Any],
    result: dict[str, Any],
) -> None:
    cur_container = current if schema is rt.core else get_ci(current, schema.id)
    cur = get_ci(cur_container, attr.name) if isinstance(cur_container, Mapping) else None
    new_container = _container_of(rt, schema, result, create=False)
    new = get_ci(new_container, attr.name) if new_container is not None else None
    if attr.mutability == "readOnly" or (
        # readOnly: "Any values provided SHALL be ignored" (§3.5.1) — keep what is stored.
        # writeOnly (password): an omitted password is not a request to clear credentials;
        # §3.5.1 only allows (MAY) clearing omitted readWrite attributes.
        attr.mutability == "writeOnly" and is_empty(new) and not is_empty(cur)
    ):
        _set(rt, schema, attr, result, copy.deepcopy(cur))
        return
    if attr.mutability == "immutable" and not is_empty(cur):
        # §3.5.1 immutable: "the input value(s) MUST match" or 400 mutability.
        if is_empty(new):
            _set(rt, schema, attr, result, copy.deepcopy(cur))
        elif new != cur:
            raise Mutability(f"{attr.name} is immutable and already set")
        return
    if attr.is_complex and not is_empty(new) and not is_empty(cur):
        _carry_read_only_subs(attr, cur, new)


def _carry_read_only_subs(attr: Attribute, cur: Any, new: Any) -> None:
    """Keep readOnly sub-attributes (manager.displayName, members.display) the server set."""
    ro = [s for s in attr.sub_attributes.values() if s.mutability == "readOnly"]
    if not ro:
        return
    if attr.multi_valued:
        by_value = {
            e.get("value"): e for e in cur if isinstance(e, Mapping) and e.get("value") is not None
        }
        pairs = [(by_value.get(e.get("value")), e) for e in new if isinstance(e, dict)]
    else:
        pairs = [(cur, new)] if isinstance(new, dict) else []
    for old, fresh in pairs:
        # Only while the element still points at the same thing: a new manager's
        # displayName is the new manager's, which the service fills in.
        if isinstance(old, Mapping) and old.get("value") == fresh.get("value"):
            for sub in ro:
                if sub.name in old and sub.name not in fresh:
                    fresh[sub.name] = copy.deepcopy(old[sub.name])


def _set(
    rt: ResourceType, schema: Schema, attr: Attribute, resource: dict[str, Any], value: Any
) -> None:
    container = _container_of(rt, schema, resource, create=not is_empty(value))
    if container is None:
        return
    key = find_key(container, attr.name)
    if key is not None:
        del container[key]
    if not is_empty(value):
        container[attr.name] = value


# --- projection (RFC 7644 §3.4.2.5, RFC 7643 §7 "returned") ---------------------------------


@dataclass(frozen=True)
class _Sel:
    container: str  # "" for the core schema, else the extension URN
    attr: str | None  # canonical name; None selects the whole schema
    sub: str | None = None


def _selections(rt: ResourceType, names: Sequence[str] | None) -> set[_Sel] | None:
    if names is None:
        return None
    if isinstance(names, str):
        names = [names]  # "userName,emails" straight from the query string
    out: set[_Sel] = set()
    for raw in names:
        for part in str(raw).split(","):
            # Entra sends attributes=emails[type eq "work"]: select the attribute.
            text = part.strip()
            if "[" in text:
                text = text.split("[", 1)[0].strip() + text.rpartition("]")[2].strip()
            if not text:
                continue
            name = resolve_name(rt, text, any_extension=True)
            if name is None:
                continue  # unknown names select nothing
            container = "" if name.schema is rt.core else name.schema.id
            out.add(
                _Sel(
                    container,
                    name.attr.name if name.attr else None,
                    name.sub.name if name.sub else None,
                )
            )
    return out


def _decide(
    container: str, attr: Attribute, inc: set[_Sel] | None, exc: set[_Sel] | None
) -> tuple[bool, set[str] | None, set[str]]:
    """Return (included, only these subs or None for all, excluded subs) for one attribute."""
    if attr.returned == "never":
        return False, None, set()
    if attr.returned == "always":
        return True, None, set()
    only: set[str] | None = None
    if inc is not None:
        whole = _Sel(container, attr.name) in inc or _Sel(container, None) in inc
        if not whole:
            subs = {s.sub for s in inc if s.container == container and s.attr == attr.name}
            only = {s for s in subs if s is not None}
            if not only:
                return False, None, set()
    elif attr.returned == "request":
        return False, None, set()
    excluded: set[str] = set()
    if exc is not None:
        if _Sel(container, attr.name) in exc or (container and _Sel(container, None) in exc):
            return False, None, set()
        excluded = {
            s.sub for s in exc if s.container == container and s.attr == attr.name and s.sub
        }
    return True, only, excluded


def _project_value(attr: Attribute, value: Any, only: set[str] | None, excluded: set[str]) -> Any:
    if not attr.is_complex:
        return value

    def one(element: Any) -> Any:
        if not isinstance(element, Mapping):
            return element
        kept: dict[str, Any] = {}
        for key, v in element.items():
            sub = attr.sub(key)
            if sub is None or sub.returned == "never":
                continue
            if sub.returned != "always":
                named = only is not None and sub.name in only
                if (only is not None and not named) or sub.name in excluded:
                    continue
                if sub.returned == "request" and not named:
                    continue
            kept[sub.name] = v
        return kept

    if attr.multi_valued and isinstance(value, list):
        items = [one(e) for e in value]
        return [e for e in items if not is_empty(e)]
    return one(value)


def project(
    rt: ResourceType,
    resource: Mapping[str, Any],
    *,
    attributes: Sequence[str] | None = None,
    excluded: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Return the representation to send: ``returned`` rules, ``attributes``, ``excluded``.

    The result shares values with ``resource`` (no copies: it is serialised at once); do not
    change it in place."""
    inc = _selections(rt, attributes)
    exc = _selections(rt, excluded)
    out: dict[str, Any] = {}
    for key, value in resource.items():
        if not isinstance(key, str) or key.lower() == "schemas" or is_empty(value):
            continue
        schema = rt.schema_for(key) if key[:4].lower() == "urn:" else None
        if schema is not None and schema is not rt.core:
            if not isinstance(value, Mapping):
                continue
            part: dict[str, Any] = {}
            for sub_key, sub_value in value.items():
                attr = schema.attribute(sub_key)
                if attr is None or is_empty(sub_value):
                    continue
                included, only, ex = _decide(schema.id, attr, inc, exc)
                if included:
                    projected = _project_value(attr, sub_value, only, ex)
                    if not is_empty(projected):
                        part[attr.name] = projected
            if part:
                out[schema.id] = part
            continue
        found = resolve_attribute(rt, key)
        if found is None:
            continue  # not part of the representation
        attr = found[1]
        included, only, ex = _decide("", attr, inc, exc)
        if included:
            projected = _project_value(attr, value, only, ex)
            if not is_empty(projected):
                out[attr.name] = projected
    return with_schemas(rt, out)


def wanted(
    rt: ResourceType,
    attributes: Sequence[str] | None,
    excluded: Sequence[str] | None,
    name: str,
) -> bool:
    """Return whether ``project`` would return any part of the named attribute."""
    resolved = resolve_name(rt, name, any_extension=True)
    if resolved is None:
        return False
    container = "" if resolved.schema is rt.core else resolved.schema.id
    if resolved.attr is None:
        return any(
            wanted(rt, attributes, excluded, f"{resolved.schema.id}:{a.name}")
            for a in resolved.schema.attributes.values()
        )
    included, only, ex = _decide(
        container, resolved.attr, _selections(rt, attributes), _selections(rt, excluded)
    )
    if not included:
        return False
    if resolved.sub is None:
        return True
    sub = resolved.sub
    if sub.returned == "always":
        return True
    if sub.returned == "never" or sub.name in ex:
        return False
    return only is None or sub.name in only
