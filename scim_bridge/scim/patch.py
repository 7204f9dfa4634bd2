"""SCIM PATCH (RFC 7644 §3.5.2): parse a PatchOp body and apply it to a resource dict.

:func:`apply_patch` is pure and atomic: it works on a copy and either returns the new resource
or raises, so a failing operation leaves nothing half-applied (RFC 7644 §3.5.2 "atomic").
Group membership never goes through it in the service: :func:`split_member_operations` turns
every operation on ``members`` into a :class:`MemberChange` the database layer applies by id.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from scim_bridge.errors import (
    InvalidPath,
    InvalidSyntax,
    InvalidValue,
    Mutability,
    NoTarget,
    ScimError,
)
from scim_bridge.scim.filters import (
    And,
    Compare,
    Node,
    Not,
    Or,
    Path,
    ValuePath,
    matches,
    parse_path,
)
from scim_bridge.scim.resources import (
    DEFAULT_COMPAT,
    Compat,
    coerce,
    coerce_element,
    find_key,
    get_ci,
    is_empty,
    resolve_attribute,
    resolve_name,
    resolve_unqualified,
    with_schemas,
)
from scim_bridge.scim.schema import CORE_GROUP, PATCH_OP, Attribute, ResourceType, Schema

OPS = ("add", "remove", "replace")


@dataclass(frozen=True)
class PatchOperation:
    """One PATCH operation: ``op`` in lower case, the parsed path (or None), the raw value."""

    op: str
    path: Path | None
    value: Any = None


MemberKind = Literal["add", "remove", "replace", "remove_all", "remove_where"]


@dataclass(frozen=True)
class MemberChange:
    """A change to a Group's members, applied by the database layer without loading them all."""

    kind: MemberKind
    ids: tuple[str, ...] = ()
    filter: Node | None = None


# --- parsing -----------------------------------------------------------------------------------


def parse_patch(body: Mapping[str, Any], *, lenient: bool = True) -> list[PatchOperation]:
    """Parse a PatchOp request body (RFC 7644 §3.5.2) into operations."""
    if not isinstance(body, Mapping):
        raise InvalidSyntax("a PATCH body must be a JSON object")
    schemas = get_ci(body, "schemas")
    if isinstance(schemas, str):
        schemas = [schemas]
    has_urn = isinstance(schemas, list) and any(
        isinstance(s, str) and s.lower() == PATCH_OP.lower() for s in schemas
    )
    if not has_urn and not lenient:
        raise InvalidSyntax(f"a PATCH body must list {PATCH_OP} in schemas")
    raw_ops = get_ci(body, "Operations")  # structural names are case-insensitive (Entra)
    if lenient and isinstance(raw_ops, Mapping):
        raw_ops = [raw_ops]
    if not isinstance(raw_ops, list) or not raw_ops:
        raise InvalidSyntax("Operations must be a non-empty list")
    return [_parse_operation(i, raw, lenient=lenient) for i, raw in enumerate(raw_ops)]


def _parse_operation(index: int, raw: Any, *, lenient: bool) -> PatchOperation:
    where = f"Operations[{index}]"
    if not isinstance(raw, Mapping):
        raise InvalidSyntax(f"{where} must be an object")
    op = get_ci(raw, "op")
    if not isinstance(op, str) or op.strip().lower() not in OPS:
        raise InvalidSyntax(f"{where}.op must be add, remove or replace, not {op!r}")
    op = op.strip().lower()
    path_text = get_ci(raw, "path")
    path: Path | None = None
    if isinstance(path_text, str) and not path_text.strip() and lenient:
        path_text = None
    if path_text is not None:
        if not isinstance(path_text, str):
            raise InvalidPath(f"{where}.path must be a string")
        path = parse_path(path_text)
    value_key = find_key(raw, "value")
    value = raw[value_key] if value_key is not None else None
    if op == "remove":
        if path is None:
            # RFC 7644 §3.5.2.2: "If 'path' is unspecified, the operation fails with ...
            # a 'scimType' error code of 'noTarget'."
            raise NoTarget(f"{where}: remove needs a path")
        return PatchOperation(op, path, value)
    if value_key is None:
        # RFC 7644 §3.5.2.1/§3.5.2.3: the operation MUST contain a "value"; §3.12 calls a
        # missing required value invalidValue.
        raise InvalidValue(f"{where}: {op} needs a value")
    if path is None:
        if lenient and isinstance(value, list) and len(value) == 1:
            value = value[0]
        if not isinstance(value, Mapping):
            # RFC 7644 §3.5.2.1: without a path the value is a set of attributes to add.
            raise InvalidValue(f"{where}: without a path, value must be an object")
    return PatchOperation(op, path, value)


# --- group membership --------------------------------------------------------------------------


def split_member_operations(
    ops: Sequence[PatchOperation],
) -> tuple[list[MemberChange], list[PatchOperation]]:
    """Pull every operation on ``members`` out as MemberChanges; return them and the rest."""
    changes: list[MemberChange] = []
    rest: list[PatchOperation] = []
    for op in ops:
        if op.path is None:
            value = op.value if isinstance(op.value, Mapping) else {}
            keys = [k for k in value if isinstance(k, str) and _is_members_key(k)]
            if not keys:
                rest.append(op)
                continue
            for key in keys:
                ids = _member_ids(value[key])
                if op.op == "replace":
                    changes.append(MemberChange("replace", ids))
                elif ids:
                    changes.append(MemberChange("add", ids))
            others = {k: v for k, v in value.items() if k not in keys}
            if others:
                rest.append(PatchOperation(op.op, None, others))
            continue
        path = op.path
        if not _is_members_path(path):
            rest.append(op)
            continue
        if path.sub_attr is not None:
            # RFC 7643 §4.2: members.display is readOnly; value, $ref and type are immutable.
            # RFC 7644 §3.5.2: "a client MUST NOT modify an attribute that has mutability
            # 'readOnly' or 'immutable'".
            raise Mutability(f"members.{path.sub_attr} cannot be changed; add or remove members")
        if path.filter is not None:
            if op.op == "add":
                raise InvalidPath("add to members takes the path 'members' and a list of members")
            if op.op == "replace":
                # Replacing matched members would rewrite their immutable "value".
                raise Mutability("members cannot be replaced through a filter; remove and add")
            listed = _ids_from_filter(path.filter)
            if listed is not None:
                changes.append(MemberChange("remove", listed))
            else:
                changes.append(MemberChange("remove_where", filter=path.filter))
            continue
        if op.op == "add":
            ids = _member_ids(op.value)
            if ids:
                changes.append(MemberChange("add", ids))
        elif op.op == "replace":
            # RFC 7644 §3.5.2.3: the list replaces all members (null/[] clears them, RFC 7643
            # §2.5). Whether Entra's replace is additive is the service's profile decision.
            changes.append(MemberChange("replace", _member_ids(op.value)))
        elif op.value is None:
            # RFC 7644 §3.5.2.2: remove on a multi-valued attribute without filter removes all.
            changes.append(MemberChange("remove_all"))
        else:
            # Entra's default: remove "members" with a value list removes only those listed
            # (scim-idp-notes §2.19); RFC 7644 leaves a remove value undefined.
            ids = _member_ids(op.value)
            if ids:
                changes.append(MemberChange("remove", ids))
    return changes, rest


def _is_members_path(path: Path) -> bool:
    return (
        path.attr is not None
        and path.attr.lower() == "members"
        and (path.urn is None or path.urn.lower() == CORE_GROUP.lower())
    )


def _is_members_key(key: str) -> bool:
    low = key.lower()
    return low == "members" or low == f"{CORE_GROUP.lower()}:members"


def _member_ids(value: Any) -> tuple[str, ...]:
    """Return the member ids a value names: a list of {"value": id}, one object, or bare ids."""
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    ids: list[str] = []
    for item in items:
        raw = get_ci(item, "value") if isinstance(item, Mapping) else item
        if isinstance(raw, bool) or not isinstance(raw, str | int) or raw == "":
            raise InvalidValue(f"each member needs a string 'value', got {item!r}")
        ids.append(str(raw))
    return tuple(dict.fromkeys(ids))


def _ids_from_filter(node: Node) -> tuple[str, ...] | None:
    """Return the ids of ``value eq "x" [or value eq "y" ...]``; None for any other filter."""
    if isinstance(node, Compare):
        ref = node.attr
        if (
            ref.attr.lower() == "value"
            and ref.sub_attr is None
            and node.op == "eq"
            and isinstance(node.value, str)
        ):
            return (node.value,)
        return None
    if isinstance(node, Or):
        left, right = _ids_from_filter(node.left), _ids_from_filter(node.right)
        if left is None or right is None:
            return None
        return tuple(dict.fromkeys((*left, *right)))
    return None


# --- applying ----------------------------------------------------------------------------------


def apply_patch(
    rt: ResourceType,
    resource: Mapping[str, Any],
    ops: Sequence[PatchOperation],
    *,
    compat: Compat = DEFAULT_COMPAT,
) -> dict[str, Any]:
    """Apply operations to a copy of the resource, atomically; return the new resource."""
    doc = copy.deepcopy(dict(resource))
    for index, op in enumerate(ops):
        try:
            _Applier(rt, doc, compat).apply(op)
        except ScimError as exc:
            # Name the failing operation; keep the class (status, scimType).
            raise type(exc)(
                f"Operations[{index}] ({op.op}): {exc.detail}", scim_type=exc.scim_type
            ) from None
    return with_schemas(rt, doc)


@dataclass
class _Applier:
    rt: ResourceType
    doc: dict[str, Any]
    compat: Compat

    def apply(self, op: PatchOperation) -> None:
        path = op.path
        if path is None:
            if op.op == "remove":
                raise NoTarget("remove needs a path")  # RFC 7644 §3.5.2.2
            self._apply_value_object(op.op, op.value)
            return
        if path.attr is None:
            self._apply_schema(op, path)
            return
        found = resolve_attribute(self.rt, path.attr, path.urn)
        if found is None and path.urn is None:
            # RFC 7644 §3.10: clients SHOULD (not MUST) qualify extension attributes; Entra
            # sends "manager". An unambiguous extension attribute is what the path means.
            found = resolve_unqualified(
                self.rt, path.attr, any_extension=True, flat_enterprise=True
            )
        if found is None:
            # errors.InvalidPath: "a PATCH path is malformed or names no attribute".
            where = f"{path.urn}:{path.attr}" if path.urn else path.attr
            raise InvalidPath(f"{where} is not an attribute of {self.rt.name}")
        schema, attr = found
        sub = self._sub(attr, path.sub_attr)
        if path.filter is not None:
            self._apply_filtered(op, schema, attr, sub, path.filter)
        else:
            self._apply_attribute(op.op, schema, attr, sub, op.value)

    # -- containers ---------------------------------------------------------------------------

    def _container(self, schema: Schema, *, create: bool) -> dict[str, Any] | None:
        if schema is self.rt.core:
            return self.doc
        key = find_key(self.doc, schema.id)
        if key is None:
            if not create:
                return None
            self.doc[schema.id] = {}
            key = schema.id
        elif key != schema.id:
            self.doc[schema.id] = self.doc.pop(key)
            key = schema.id
        value = self.doc[key]
        if not isinstance(value, dict):
            value = self.doc[key] = {}
        return value

    def _get(self, schema: Schema, attr: Attribute) -> Any:
        container = self._container(schema, create=False)
        return None if container is None else get_ci(container, attr.name)

    def _set(self, schema: Schema, attr: Attribute, value: Any) -> None:
        container = self._container(schema, create=not is_empty(value))
        if container is None:
            return
        key = find_key(container, attr.name)
        if key is not None:
            del container[key]
        if not is_empty(value):
            container[attr.name] = value
        elif schema is not self.rt.core and not container:
            del self.doc[schema.id]

    @staticmethod
    def _sub(attr: Attribute, name: str | None) -> Attribute | None:
        if name is None:
            return None
        if not attr.is_complex:
            raise InvalidPath(f"{attr.name} has no sub-attributes")
        sub = attr.sub(name)
        if sub is None:
            raise InvalidPath(f"{name} is not a sub-attribute of {attr.name}")
        return sub

    # -- path-less and whole-schema operations -----------------------------------------------

    def _apply_value_object(self, op: str, value: Any) -> None:
        """RFC 7644 §3.5.2.1/§3.5.2.3: no path — the value holds attributes of the resource."""
        if not isinstance(value, Mapping):
            raise InvalidValue("without a path, value must be an object")
        for key, raw in value.items():
            if not isinstance(key, str) or key.lower() == "schemas":
                continue
            schema = self.rt.schema_for(key) if key[:4].lower() == "urn:" else None
            if schema is not None:
                # {"urn:…:enterprise:2.0:User": {"employeeNumber": "1"}}
                if raw is None:
                    continue
                if not isinstance(raw, Mapping):
                    raise InvalidValue(f"{schema.id} must be an object")
                for sub_key, sub_raw in raw.items():
                    if isinstance(sub_key, str):
                        self._apply_key(op, f"{schema.id}:{sub_key}", sub_raw)
                continue
            self._apply_key(op, key, raw)

    def _apply_key(self, op: str, key: str, raw: Any) -> None:
        # Plain ("displayName"), dotted ("name.givenName") and URN-qualified
        # ("urn:…:User:employeeNumber") keys all address nested attributes; Entra's
        # aadOptscim062020 form relies on it (scim-idp-notes §2.11).
        name = resolve_name(self.rt, key, flat_enterprise=self.compat.flat_enterprise)
        if name is None or name.attr is None:
            return  # unknown attributes are ignored, as in POST and PUT bodies
        if name.sub is not None and name.attr.multi_valued:
            return  # "emails.value" as a key names no single place
        self._apply_attribute(op, name.schema, name.attr, name.sub, raw)

    def _apply_schema(self, op: PatchOperation, path: Path) -> None:
        schema = self.rt.schema_for(path.urn)
        if schema is None:
            raise InvalidPath(f"{path.urn} is not a schema of {self.rt.name}")
        if op.op != "remove":
            if not isinstance(op.value, Mapping):
                raise InvalidValue(f"the value for {schema.id} must be an object")
            self._apply_value_object(op.op, {schema.id: op.value})
            return
        if schema is self.rt.core:
            raise InvalidPath("the core schema cannot be removed")
        for attr in schema.attributes.values():
            # Server-managed readOnly parts (the dingtalk "sync" state) stay.
            if attr.mutability != "readOnly":
                self._set(schema, attr, None)

    # -- one attribute, no filter -------------------------------------------------------------

    def _apply_attribute(
        self, op: str, schema: Schema, attr: Attribute, sub: Attribute | None, raw: Any
    ) -> None:
        where = attr.name
        guarded = attr.mutability in ("readOnly", "immutable") or (
            sub is not None and sub.mutability in ("readOnly", "immutable")
        )
        if guarded and self._read_only_noop(op, schema, attr, sub, raw):
            return
        if sub is not None:
            self._apply_sub(op, schema, attr, sub, raw)
            return
        current = self._get(schema, attr)
        if op == "remove":
            self._unassign(schema, attr, current, raw)
            return
        value = coerce(attr, raw, where=where)
        if value is None:
            if op == "replace":
                # RFC 7643 §2.5: null and [] mean unassigned; replacing with them clears.
                self._unassign(schema, attr, current, None)
            return  # adding nothing changes nothing
        if attr.required and isinstance(value, str) and not value.strip():
            raise InvalidValue(f"{attr.name} is required and cannot be empty")
        if attr.multi_valued:
            if op == "replace" or not isinstance(current, list):
                # RFC 7644 §3.5.2.3: replace without filter replaces all values.
                self._set(schema, attr, value)
                return
            # RFC 7644 §3.5.2.1: add appends; an identical value already there is a no-op.
            items = [copy.deepcopy(e) for e in current]
            added = [v for v in value if v not in items]
            items.extend(added)
            if attr.is_complex:
                _primary_wins(items, [e for e in added if e.get("primary") is True])
            self._set(schema, attr, items)
            return
        if attr.is_complex and isinstance(current, Mapping):
            # RFC 7644 §3.5.2.1/§3.5.2.3: sub-attributes not given are left unchanged.
            self._set(schema, attr, _merge_complex(attr, current, value))
            return
        self._set(schema, attr, value)

    def _apply_sub(
        self, op: str, schema: Schema, attr: Attribute, sub: Attribute, raw: Any
    ) -> None:
        current = self._get(schema, attr)
        where = f"{attr.name}.{sub.name}"
        value = None if op == "remove" else coerce(sub, raw, where=where)
        if value is None and op == "add":
            return  # adding nothing changes nothing
        if attr.multi_valued:
            # "emails.value" without a filter: every element (RFC 7644 §3.5.2 leaves the
            # target as "all values").
            items = [dict(e) for e in current or () if isinstance(e, Mapping)]
            if not items and value is not None:
                items = [{}]
            for item in items:
                _set_sub(item, sub, value)
            self._set(schema, attr, [e for e in items if e])
            return
        obj = dict(current) if isinstance(current, Mapping) else {}
        if sub.name == "value" and obj.get("value") != value:
            obj = _drop_read_only(attr, obj)  # a new reference: its old display is stale
        _set_sub(obj, sub, value)
        if not obj and attr.required:
            raise Mutability(f"{attr.name} is required and cannot be removed")
        self._set(schema, attr, obj or None)

    def _unassign(self, schema: Schema, attr: Attribute, current: Any, raw: Any) -> None:
        if is_empty(current):
            return  # removing what is not there succeeds (the state asked for holds)
        if attr.multi_valued and not is_empty(raw):
            # A remove value lists elements to take out (Entra's members/emails form).
            gone = coerce(attr, raw, where=attr.name) or []
            items = [e for e in current if not _listed(attr, e, gone)]
            if len(items) == len(current):
                return
            if not items and attr.required:
                raise Mutability(f"{attr.name} is required and cannot be removed")
            self._set(schema, attr, items)
            return
        if attr.required:
            # RFC 7644 §3.5.2.2: removing a required attribute → 400 "mutability".
            raise Mutability(f"{attr.name} is required and cannot be removed")
        self._set(schema, attr, None)

    def _read_only_noop(
        self, op: str, schema: Schema, attr: Attribute, sub: Attribute | None, raw: Any
    ) -> bool:
        """Return True when a readOnly/immutable target is left as it is; raise if changed.

        RFC 7644 §3.5.2: "a client MUST NOT modify an attribute that has mutability
        'readOnly' or 'immutable'. However, a client MAY 'add' a value to an 'immutable'
        attribute if the attribute had no previous value." Sending the value it already has
        changes nothing (Okta's group rename repeats the id), so that is accepted.
        """
        current = self._get(schema, attr)
        target_attr = attr
        if sub is not None:
            current = get_ci(current, sub.name) if isinstance(current, Mapping) else None
            target_attr = sub
        immutable = target_attr.mutability == "immutable"
        name = f"{attr.name}.{sub.name}" if sub is not None else attr.name
        if immutable and is_empty(current) and op != "remove":
            return False  # first assignment of an immutable attribute is allowed
        if op == "remove":
            if is_empty(current):
                return True
            raise Mutability(f"{name} is {target_attr.mutability} and cannot be removed")
        value = coerce(target_attr, raw, where=name, keep_read_only=True)
        if _same(current, value):
            return True
        raise Mutability(f"{name} is {target_attr.mutability} and cannot be changed")

    # -- value filters ------------------------------------------------------------------------

    def _apply_filtered(
        self, op: PatchOperation, schema: Schema, attr: Attribute, sub: Attribute | None, node: Node
    ) -> None:
        if not attr.multi_valued:
            raise InvalidPath(f"{attr.name} is single-valued; a value filter needs a list")
        _check_filter(attr, node)
        current = self._get(schema, attr)
        items: list[Any] = [copy.deepcopy(e) for e in current] if isinstance(current, list) else []
        case_exact = _case_exact(attr)
        hits = [
            i
            for i, e in enumerate(items)
            if matches(node, e if isinstance(e, Mapping) else {"value": e}, case_exact=case_exact)
        ]
        where = f"{attr.name}[…]" + (f".{sub.name}" if sub is not None else "")
        if sub is not None and sub.mutability in ("readOnly", "immutable"):
            for i in hits:
                old = items[i].get(sub.name) if isinstance(items[i], Mapping) else None
                new = None if op.op == "remove" else coerce(sub, op.value, where=where)
                first = sub.mutability == "immutable" and is_empty(old) and op.op != "remove"
                if not _same(old, new) and not first:
                    raise Mutability(f"{attr.name}.{sub.name} is {sub.mutability}")
            if sub.mutability == "readOnly":
                return
        if op.op == "remove":
            if not hits:
                # RFC 7644 §3.12 (Table 9) noTarget: "This occurs when the specified 'path'
                # value contains a filter that yields no match."
                raise NoTarget(f"no {attr.name} value matches the filter")
            if sub is None:
                items = [e for i, e in enumerate(items) if i not in hits]
            else:
                for i in hits:
                    _set_sub(items[i], sub, None)
                items = [e for e in items if not is_empty(e)]
            if not items and attr.required:
                raise Mutability(f"{attr.name} is required and cannot be removed")
            self._set(schema, attr, items)
            return
        if sub is not None:
            value = coerce(sub, op.value, where=where)
        else:
            value = coerce_element(attr, op.value, where=where)
        touched: list[Any] = []
        if hits:
            # RFC 7644 §3.5.2.3: "the matching sub-attribute of all matching records is
            # replaced"; without a sub-attribute "all matching record values SHALL be replaced".
            for i in hits:
                if sub is not None:
                    _set_sub(items[i], sub, value)
                elif op.op == "replace" or not isinstance(items[i], Mapping):
                    items[i] = copy.deepcopy(value)
                else:
                    items[i] = _merge_complex(attr, items[i], value)
                touched.append(items[i])
        else:
            seed = _seed_from_filter(attr, node)
            if seed is None:
                # RFC 7644 §3.5.2.3: a valuePath that matches nothing → 400 noTarget.
                raise NoTarget(f"no {attr.name} value matches the filter")
            # Deviation for Entra (scim-idp-notes §2.12, SCIM-SDK #416/#680): when the filter
            # only says `a eq x [and b eq y]`, the client means "the element with these
            # values" — create it, so a work email or work address can be set in place.
            if sub is not None:
                if value is None:
                    return
                _set_sub(seed, sub, value)
            elif isinstance(value, Mapping):
                seed = {**seed, **value}
            items.append(seed)
            touched.append(seed)
        items = [e for e in items if not is_empty(e)]
        if attr.is_complex:
            _primary_wins(items, [e for e in touched if isinstance(e, dict)])
        self._set(schema, attr, items)


# --- helpers -----------------------------------------------------------------------------------


def _set_sub(obj: dict[str, Any], sub: Attribute, value: Any) -> None:
    key = find_key(obj, sub.name)
    if key is not None:
        del obj[key]
    if not is_empty(value):
        obj[sub.name] = value


def _drop_read_only(attr: Attribute, obj: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: v for k, v in obj.items() if (s := attr.sub(k)) is None or s.mutability != "readOnly"
    }


def _merge_complex(attr: Attribute, current: Mapping[str, Any], value: Any) -> Any:
    """Merge sub-attributes into a complex value; a new "value" drops stale readOnly subs."""
    if not isinstance(value, Mapping):
        return copy.deepcopy(value)
    base = dict(current)
    if "value" in value and base.get("value") != value["value"]:
        base = _drop_read_only(attr, base)
    for key, v in value.items():
        _set_sub(base, attr.sub(key) or Attribute(key, "string"), copy.deepcopy(v))
    return base


def _primary_wins(items: list[Any], winners: list[Any]) -> None:
    """RFC 7644 §3.5.2: setting primary true on a value sets it false on the others."""
    chosen = [w for w in winners if isinstance(w, Mapping) and w.get("primary") is True]
    if not chosen:
        return
    keep = chosen[-1]
    for item in items:
        if isinstance(item, dict) and item is not keep and item.get("primary") is True:
            item["primary"] = False


def _listed(attr: Attribute, element: Any, gone: list[Any]) -> bool:
    """Return whether a remove value list names this element (by "value" when it has one)."""
    for g in gone:
        if isinstance(g, Mapping) and isinstance(element, Mapping) and "value" in g:
            sub = attr.sub("value")
            exact = bool(sub and sub.case_exact)
            a, b = element.get("value"), g["value"]
            if isinstance(a, str) and isinstance(b, str) and not exact:
                if a.lower() == b.lower():
                    return True
            elif a == b:
                return True
        elif g == element:
            return True
    return False


def _same(current: Any, value: Any) -> bool:
    """Return whether a sent value equals the stored one (a sent object may be partial)."""
    if is_empty(current) and is_empty(value):
        return True
    if isinstance(current, Mapping) and isinstance(value, Mapping):
        return all(k in current and _same(current[k], v) for k, v in value.items())
    if isinstance(current, str | int) and isinstance(value, str | int):
        return str(current) == str(value)
    return bool(current == value)


def _case_exact(attr: Attribute) -> Callable[[str], bool]:
    def case_exact(dotted_lower: str) -> bool:
        sub = attr.sub(dotted_lower.rsplit(".", 1)[-1])
        return bool(sub and sub.case_exact)

    return case_exact


def _check_filter(attr: Attribute, node: Node) -> None:
    """Raise InvalidPath when a value filter names something that is not a sub-attribute."""
    if isinstance(node, And | Or):
        _check_filter(attr, node.left)
        _check_filter(attr, node.right)
    elif isinstance(node, Not):
        _check_filter(attr, node.expr)
    elif isinstance(node, ValuePath):
        raise InvalidPath(f"a filter on {attr.name} cannot nest another value filter")
    elif attr.is_complex and (
        node.attr.urn is not None
        or node.attr.sub_attr is not None
        or attr.sub(node.attr.attr) is None
    ):
        raise InvalidPath(f"{node.attr.dotted()} is not a sub-attribute of {attr.name}")


def _seed_from_filter(attr: Attribute, node: Node) -> dict[str, Any] | None:
    """Return the element a conjunction of ``eq`` tests describes, or None for other filters."""
    if isinstance(node, Compare):
        sub = attr.sub(node.attr.attr)
        if node.op != "eq" or sub is None or node.value is None:
            return None
        return {sub.name: coerce(sub, node.value, where=f"{attr.name}.{sub.name}")}
    if isinstance(node, And):
        left, right = _seed_from_filter(attr, node.left), _seed_from_filter(attr, node.right)
        if left is None or right is None:
            return None
        if any(k in left and left[k] != v for k, v in right.items()):
            return None  # type eq "a" and type eq "b" describes no element
        return {**left, **right}
    return None
